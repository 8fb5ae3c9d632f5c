"""Console page times with 100 k incidents: p50/p95 server time of the incident list and one incident page.

    python -m benchmarks.console_pages [--incidents 100000] [--requests 300] [--db sqlite|URL]

Fills a fresh store through the real write path (so the outbox fills too): 100 k incidents over
40 services, 2 % open, 3 % acknowledged, the rest resolved; one in 50 carries per-metric evidence
and a 240-point series for its plot, as the engine stores them. Then renders pages in-process
(FastAPI's TestClient, no socket), so the time is the server's: routing, store queries, templates.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime

from fastapi.testclient import TestClient

from aiops.api.app import create_app
from aiops.config import Settings
from aiops.model import DeployEvent, Effects, Incident, IncidentStatus, MetricVerdict, Verdict, VerdictResult
from aiops.store import open_store

T0 = 1_795_000_000.0


def _status(i: int) -> IncidentStatus:
    r = i % 100
    return IncidentStatus.OPEN if r < 2 else IncidentStatus.ACKNOWLEDGED if r < 5 else IncidentStatus.RESOLVED


def fill(db: str, incidents: int) -> list[str]:
    """Returns the ids of the incidents that carry a plot."""
    store = open_store(db)
    services = [f"svc-{i:02d}" for i in range(40)]
    rng = random.Random(7)
    plotted = []
    batch = Effects()
    for i in range(incidents):
        svc = services[i % len(services)]
        ts = T0 + i * 30.0
        dep = DeployEvent.create(svc, f"v{i}", ts - 120, id=f"dep-{i:06d}")
        evidence: tuple[MetricVerdict, ...] = ()
        series: tuple[tuple[str, tuple[float, ...], tuple[float, ...]], ...] = ()
        if i % 50 == 0:
            evidence = (
                MetricVerdict("latency_p99", VerdictResult.FAIL, 0.2, 0.3, 0.5, 1e-6, 8.0),
                MetricVerdict("errors_rate", VerdictResult.PASS, 0.01, 0.011, 0.1, 0.2, 0.4),
            )
            times = tuple(ts - 3600 + k * 15.0 for k in range(240))
            series = (("latency_p99", times, tuple(0.2 * (1 + rng.gauss(0, 0.03)) for _ in times)),)
            plotted.append(f"inc-{i:06d}")
            batch.deploys.append(dep)
            mv = evidence[0]
            batch.verdicts.append(Verdict(dep.id, svc, VerdictResult.FAIL, 5.0, ts, (mv,), "latency", dep.version))
        status = _status(i)
        batch.incidents.append(
            Incident(
                f"inc-{i:06d}",
                svc,
                ts,
                dep.id if i % 3 else None,
                0.8,
                ("latency_p99",),
                status,
                "critical" if i % 7 == 0 else "warning",
                evidence,
                "synthetic latency incident",
                resolved_at=ts + 900 if status is IncidentStatus.RESOLVED else None,
                series=series,
            )
        )
        if len(batch.incidents) >= 5000:
            store.write(batch)
            batch = Effects()
    store.write(batch)
    store.close()
    return plotted


def measure(client: TestClient, paths: list[str]) -> list[float]:
    out = []
    for path in paths:
        started = time.perf_counter()
        reply = client.get(path)
        out.append((time.perf_counter() - started) * 1000)
        if reply.status_code != 200:
            raise SystemExit(f"{path}: HTTP {reply.status_code}: {reply.text[:200]}")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--incidents", type=int, default=100_000)
    p.add_argument("--requests", type=int, default=300)
    p.add_argument("--db", default="sqlite")
    args = p.parse_args(argv)
    tmp = tempfile.mkdtemp(prefix="aiops-console-bench-")
    db = f"sqlite:///{tmp}/aiops.db" if args.db == "sqlite" else args.db
    started = time.perf_counter()
    plotted = fill(db, args.incidents)
    fill_s = time.perf_counter() - started
    store = open_store(db)
    client = TestClient(create_app(Settings(), store))
    rng = random.Random(1)
    services = [f"svc-{i:02d}" for i in range(40)]
    # The list as people use it: the default (open first), one service, one status, a next page.
    first = client.get("/ui", params={"status": "resolved"})
    cursor = first.text.split("cursor=")[-1].split('"')[0] if "next-page" in first.text else ""
    lists = [
        rng.choice(
            [
                "/ui",
                f"/ui?service={rng.choice(services)}",
                "/ui?status=resolved",
                f"/ui?status=open&service={rng.choice(services)}",
                f"/ui?status=resolved&cursor={cursor}",
            ]
        )
        for _ in range(args.requests)
    ]
    pages = [f"/ui/incidents/{rng.choice(plotted)}" for _ in range(args.requests)]
    measure(client, lists[:20] + pages[:20])  # warm-up: templates compiled, caches filled
    results = {
        "incident list (/ui, mixed filters)": measure(client, lists),
        "one incident page": measure(client, pages),
        "fleet page": measure(client, ["/ui/fleet"] * (args.requests // 3)),
        "deployments page (latest 200 releases)": measure(client, ["/ui/deployments"] * (args.requests // 3)),
    }
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    machine = f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, {platform.system()}"
    print(
        f"console pages, {args.incidents:,} incidents ({db.split(':')[0]}), filled in {fill_s:.0f} s; {when}; {machine}"
    )
    print("| page | requests | p50 | p95 | max |")
    print("|---|---|---|---|---|")
    for name, ms in results.items():
        q = statistics.quantiles(ms, n=100)
        print(f"| {name} | {len(ms)} | {q[49]:.1f} ms | {q[94]:.1f} ms | {max(ms):.1f} ms |")
    store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
