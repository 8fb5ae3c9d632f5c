-- Delivery metrics (aiops/delivery.py, CONTRACTS.md 12): who shipped a deploy, and when its change
-- was committed or merged. CDEvents change.merged events, tied to deploys by artifactId (no semicolons
-- in these comments: the runner splits statements on them).
ALTER TABLE deployments ADD COLUMN team TEXT NOT NULL DEFAULT '';
ALTER TABLE deployments ADD COLUMN commit_ts DOUBLE PRECISION;
ALTER TABLE deployments ADD COLUMN artifact TEXT NOT NULL DEFAULT '';
-- A team's report reads its deploys by time.
CREATE INDEX IF NOT EXISTS deployments_team_ts ON deployments (team, ts);
-- Rollbacks since a time, and for each the event it followed in its service and environment.
CREATE INDEX IF NOT EXISTS deployments_kind_ts ON deployments (kind, ts);
CREATE INDEX IF NOT EXISTS deployments_service_env_ts ON deployments (service, environment, ts, id);
CREATE TABLE IF NOT EXISTS changes (
    id TEXT PRIMARY KEY,
    artifact TEXT NOT NULL,
    ts DOUBLE PRECISION NOT NULL,
    service TEXT NOT NULL DEFAULT ''
);
-- The latest change merged into an artifact before its deploy.
CREATE INDEX IF NOT EXISTS changes_artifact_ts ON changes (artifact, ts);
-- AIOPS_SERVICE_TEAMS (and its file): the team of a service whose deploys name none.
CREATE TABLE IF NOT EXISTS service_teams (
    service TEXT PRIMARY KEY,
    team TEXT NOT NULL
);
-- The latest judgement of a verdict or incident: was it a false positive?
CREATE INDEX IF NOT EXISTS feedback_target ON feedback (target_kind, target_id, ts)
