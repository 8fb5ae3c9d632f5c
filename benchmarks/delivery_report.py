"""Delivery report speed: one year of deploys for 500 services, a fleet-wide weekly report in <= 1 s.

    python -m benchmarks.delivery_report [--services 500] [--per-service 100] [--db sqlite|URL]...

Fills a fresh store with a year of production deploys (about 100 per service: 50 k), their
verdicts (4 % fail, 1 % inconclusive), rollbacks (5 %), blamed incidents (6 %, most resolved),
false-positive feedback on some of them, commit times (on the deploy, or by CDEvents change.merged
on 10 % of the artifacts) and teams (50; half by the deploy, half by AIOPS_SERVICE_TEAMS). Then
times, warm (the best and the median of ``--repeat`` runs after one cold run): the fleet-wide
weekly report over the year, one team's weekly report, and the per-team query behind the
Prometheus gauges (30 days). With two stores given it also checks they answer the same report.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from datetime import UTC, datetime
from typing import Any

import numpy as np

from aiops.delivery import Bucket, delivery_report, team_measures
from aiops.model import (
    ChangeEvent,
    DeployEvent,
    DeployKind,
    Effects,
    Feedback,
    FeedbackLabel,
    Incident,
    IncidentStatus,
    Verdict,
    VerdictResult,
)
from aiops.store import SqlStore, open_store

YEAR_START = datetime(2025, 11, 24, tzinfo=UTC).timestamp()  # a Monday
YEAR = 364 * 86400.0
TEAMS = 50


def fill(store: SqlStore, services: int, per_service: int, seed: int = 7) -> dict[str, int]:
    """Write the synthetic year; returns how many of each thing it wrote."""
    rng = np.random.default_rng(seed)
    counts = dict.fromkeys(("deploys", "rollbacks", "verdicts", "incidents", "changes", "feedback"), 0)
    batch = Effects()
    feedback: list[Feedback] = []
    for s in range(services):
        service = f"svc-{s:03d}"
        team = f"team-{s % TEAMS:02d}" if s % 2 == 0 else ""  # odd services: team by the mapping
        times = np.sort(rng.uniform(YEAR_START, YEAR_START + YEAR, per_service))
        for k, ts in enumerate(times):
            ts = float(ts)
            lead = float(rng.lognormal(np.log(6 * 3600), 1.2))
            artifact = f"pkg:oci/{service}@sha256:{k:06x}" if k % 10 == 0 else ""
            dep = DeployEvent(
                f"{service}-{k}", service, f"v{k}", ts, DeployKind.DEPLOY, "prod", team,
                None if artifact else ts - lead, artifact,
            )  # fmt: skip
            batch.deploys.append(dep)
            if artifact:
                batch.changes.append(ChangeEvent(f"chg-{service}-{k}", artifact, ts - lead, service))
            u = rng.random()
            result = VerdictResult.FAIL if u < 0.04 else VerdictResult.INCONCLUSIVE if u < 0.05 else VerdictResult.PASS
            decided = ts + (float(rng.uniform(120, 900)) if result is VerdictResult.FAIL else 1800.0)
            batch.verdicts.append(Verdict(dep.id, service, result, 50.0, decided, version=dep.version))
            if rng.random() < 0.06 or (result is VerdictResult.FAIL and rng.random() < 0.5):
                opened = ts + float(rng.uniform(60, 1500))
                resolved = opened + float(rng.lognormal(np.log(2 * 3600), 1.0)) if rng.random() < 0.9 else None
                status = IncidentStatus.RESOLVED if resolved else IncidentStatus.OPEN
                inc = Incident(
                    f"inc-{dep.id}", service, opened, dep.id, 0.8, ("latency",), status, resolved_at=resolved
                )
                batch.incidents.append(inc)
                if rng.random() < 0.1:
                    feedback.append(_false_positive("incident", inc.id, service, opened + 600))
            if result is VerdictResult.FAIL and rng.random() < 0.15:
                feedback.append(_false_positive("deployment", dep.id, service, decided + 60))
            next_ts = float(times[k + 1]) if k + 1 < len(times) else ts + 86400.0
            if rng.random() < 0.05 and next_ts - ts > 7200:
                rb = DeployEvent(
                    f"{service}-{k}-rb", service, f"v{k - 1}", ts + 3600, DeployKind.ROLLBACK, "prod", team
                )
                batch.deploys.append(rb)
                batch.verdicts.append(
                    Verdict(rb.id, service, VerdictResult.PASS, 90.0, rb.ts + 1800, version=rb.version)
                )
                counts["rollbacks"] += 1
            if len(batch.deploys) >= 5000:
                _flush(store, batch, counts)
                batch = Effects()
    _flush(store, batch, counts)
    for fb in feedback:
        store.add_feedback(fb)
    counts["feedback"] = len(feedback)
    store.set_service_teams({f"svc-{s:03d}": f"team-{s % TEAMS:02d}" for s in range(1, services, 2)})
    return counts


def _false_positive(kind: str, target: str, service: str, at: float) -> Feedback:
    return Feedback(kind, target, FeedbackLabel.FALSE_POSITIVE, service, (), "", at, f"fb-{target}")


def _flush(store: SqlStore, batch: Effects, counts: dict[str, int]) -> None:
    store.write(batch)
    counts["deploys"] += len(batch.deploys)
    counts["verdicts"] += len(batch.verdicts)
    counts["incidents"] += len(batch.incidents)
    counts["changes"] += len(batch.changes)


def timed(fn: Any, repeat: int) -> tuple[float, float, float, Any]:
    """(cold, best, median) seconds, and the last answer."""
    started = time.perf_counter()
    answer = fn()
    cold = time.perf_counter() - started
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        answer = fn()
        runs.append(time.perf_counter() - started)
    return cold, min(runs), statistics.median(runs), answer


def run(db: str, services: int, per_service: int, repeat: int) -> dict[str, Any]:
    store = open_store(db)
    started = time.perf_counter()
    counts = fill(store, services, per_service)
    fill_s = time.perf_counter() - started
    if db.startswith("postgresql://"):
        # What autovacuum does within a minute of a load this size: a served store has statistics.
        with store._tx() as cur:
            cur.execute("ANALYZE")
    end = YEAR_START + YEAR
    fleet = timed(lambda: delivery_report(store, start=YEAR_START, end=end, bucket=Bucket.WEEK), repeat)
    team = timed(lambda: delivery_report(store, start=YEAR_START, end=end, bucket=Bucket.WEEK, team="team-07"), repeat)
    gauges = timed(lambda: team_measures(store, start=end - 30 * 86400, end=end), repeat)
    store.close()
    summary = fleet[3]["summary"]
    return {
        "db": db.split("@")[-1],
        "counts": counts,
        "fill_s": fill_s,
        "fleet_weekly": fleet[:3],
        "team_weekly": team[:3],
        "gauges_30d": gauges[:3],
        "report": fleet[3],
        "summary": {
            "deployments": summary["deployment_frequency"]["deployments"],
            "rollbacks": summary["deployment_frequency"]["rollbacks"],
            "change_failure_rate": summary["change_failure_rate"]["rate"],
            "failures": summary["change_failure_rate"]["failures"],
            "excluded_false_positives": summary["change_failure_rate"]["excluded_false_positives"],
            "lead_time_median_h": (summary["lead_time"]["median_seconds"] or 0) / 3600,
            "restore_median_h": (summary["time_to_restore"]["median_seconds"] or 0) / 3600,
            "buckets": len(fleet[3]["buckets"]),
            "teams_in_gauges": len(gauges[3]),
        },
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--services", type=int, default=500)
    p.add_argument("--per-service", type=int, default=100)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--db", action="append", help="sqlite (a fresh temporary file) or a PostgreSQL URL; repeatable")
    args = p.parse_args()
    results = []
    for db in args.db or ["sqlite"]:
        if db == "sqlite":
            db = f"sqlite:///{tempfile.mkdtemp(prefix='aiops-delivery-')}/aiops.db"
        elif db.startswith("postgresql://"):
            import psycopg

            name = f"aiops_delivery_bench_{int(time.time())}"
            with psycopg.connect(db, autocommit=True) as conn:
                conn.execute(f"CREATE DATABASE {name}")
            db = f"{db.rpartition('/')[0]}/{name}"
        results.append(run(db, args.services, args.per_service, args.repeat))
    print(f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.node()}, {platform.processor() or platform.machine()}")
    for r in results:
        c = r["counts"]
        print(
            f"{r['db']}: stored {c['deploys']:,} deploy events ({c['rollbacks']:,} rollbacks), {c['verdicts']:,} "
            f"verdicts, {c['incidents']:,} incidents, {c['changes']:,} changes, {c['feedback']:,} feedback "
            f"in {r['fill_s']:.1f} s"
        )
        for name in ("fleet_weekly", "team_weekly", "gauges_30d"):
            cold, best, median = r[name]
            print(
                f"  {name:13s} cold {cold * 1000:7.1f} ms  best {best * 1000:7.1f} ms  median {median * 1000:7.1f} ms"
            )
        print("  summary:", json.dumps(r["summary"]))
    if len(results) > 1:
        same = all(
            json.dumps(r["report"], sort_keys=True) == json.dumps(results[0]["report"], sort_keys=True) for r in results
        )
        print(f"same report on every store: {same}")
        if not same:
            return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
