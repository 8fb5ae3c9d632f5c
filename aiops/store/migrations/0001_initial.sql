-- Shared by SQLite and PostgreSQL: plain types only. JSON bodies are TEXT so both engines agree.
CREATE TABLE IF NOT EXISTS deployments (
    id TEXT PRIMARY KEY,
    service TEXT NOT NULL,
    version TEXT NOT NULL,
    ts DOUBLE PRECISION NOT NULL,
    kind TEXT NOT NULL,
    environment TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS deployments_service_ts ON deployments (service, ts);
CREATE INDEX IF NOT EXISTS deployments_ts_id ON deployments (ts, id);

CREATE TABLE IF NOT EXISTS verdicts (
    deployment_id TEXT PRIMARY KEY,
    service TEXT NOT NULL,
    verdict TEXT NOT NULL,
    score DOUBLE PRECISION NOT NULL,
    decided_at DOUBLE PRECISION,
    body TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS incidents (
    id TEXT PRIMARY KEY,
    service TEXT NOT NULL,
    status TEXT NOT NULL,
    severity TEXT NOT NULL,
    opened_at DOUBLE PRECISION NOT NULL,
    updated_at DOUBLE PRECISION,
    resolved_at DOUBLE PRECISION,
    deployment_id TEXT,
    confidence DOUBLE PRECISION NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS incidents_opened ON incidents (opened_at, id);
CREATE INDEX IF NOT EXISTS incidents_service_opened ON incidents (service, opened_at);
CREATE INDEX IF NOT EXISTS incidents_deployment ON incidents (deployment_id);

CREATE TABLE IF NOT EXISTS anomalies (
    service TEXT NOT NULL,
    metric TEXT NOT NULL,
    ts DOUBLE PRECISION NOT NULL,
    detector TEXT NOT NULL,
    value DOUBLE PRECISION NOT NULL,
    score DOUBLE PRECISION NOT NULL,
    baseline DOUBLE PRECISION,
    PRIMARY KEY (service, metric, ts, detector)
);

CREATE TABLE IF NOT EXISTS feedback (
    id TEXT PRIMARY KEY,
    target_kind TEXT NOT NULL,
    target_id TEXT NOT NULL,
    label TEXT NOT NULL,
    service TEXT NOT NULL,
    metrics TEXT NOT NULL,
    note TEXT NOT NULL,
    ts DOUBLE PRECISION NOT NULL
);
CREATE INDEX IF NOT EXISTS feedback_service ON feedback (service);
