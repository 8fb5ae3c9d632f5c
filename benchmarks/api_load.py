"""API latency under load: 100 k incidents stored, 200 requests/s, p99 of the list and verdict endpoints.

    python -m benchmarks.api_load [--incidents 100000] [--rate 200] [--seconds 20] [--db sqlite|URL]

Fills a fresh store, starts the real server (`aiops serve`, one uvicorn process) on loopback, and
sends an open-loop load (requests leave on schedule whether or not earlier ones returned, so a
slow server cannot hide its queueing) from one asyncio client on the same machine. Bounded: each
phase runs ``--seconds`` and stops.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time

import httpx

from aiops.model import DeployEvent, Effects, Incident, MetricVerdict, Verdict, VerdictResult
from aiops.store import open_store


def fill(db: str, incidents: int) -> list[str]:
    store = open_store(db)
    services = [f"svc-{i:02d}" for i in range(40)]
    deploy_ids = []
    t0 = 1_795_000_000.0
    batch = Effects()
    for i in range(incidents):
        svc = services[i % len(services)]
        dep = DeployEvent.create(svc, f"v{i}", t0 + i * 30.0, id=f"dep-{i:06d}")
        if i % 10 == 0:
            mv = MetricVerdict("latency", VerdictResult.PASS, 0.2, 0.21, 0.05, 0.3, 0.2)
            batch.deploys.append(dep)
            batch.verdicts.append(
                Verdict(dep.id, svc, VerdictResult.PASS, 90.0, dep.ts + 1800, (mv,), "ok", dep.version)
            )
            deploy_ids.append(dep.id)
        batch.incidents.append(
            Incident(
                f"inc-{i:06d}", svc, t0 + i * 30.0, dep.id if i % 3 else None, 0.8, ("latency",), summary="synthetic"
            )
        )
        if len(batch.incidents) >= 5000:
            store.write(batch)
            batch = Effects()
    store.write(batch)
    store.close()
    return deploy_ids


async def phase(base: str, paths: list[str], rate: float, seconds: float) -> tuple[list[float], int]:
    latencies: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    async with httpx.AsyncClient(base_url=base, timeout=10, limits=limits) as client:

        async def one(path: str) -> None:
            nonlocal errors
            started = time.perf_counter()
            try:
                r = await client.get(path)
                if r.status_code != 200:
                    errors += 1
            except httpx.HTTPError:
                errors += 1
            latencies.append(time.perf_counter() - started)

        tasks = []
        start = time.perf_counter()
        n = int(rate * seconds)
        for i in range(n):
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(paths[i % len(paths)])))
        await asyncio.gather(*tasks)
    return latencies, errors


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=1000)[int(q * 1000) - 1] * 1000


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--incidents", type=int, default=100_000)
    ap.add_argument("--rate", type=float, default=200)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--db", default="sqlite")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        db = f"sqlite:///{tmp}/load.db" if args.db == "sqlite" else args.db
        started = time.perf_counter()
        deploy_ids = fill(db, args.incidents)
        print(
            f"stored {args.incidents:,} incidents and {len(deploy_ids):,} deployments in "
            f"{time.perf_counter() - started:.0f} s ({db.split(':')[0]})",
            flush=True,
        )
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        server = subprocess.Popen(
            [sys.executable, "-m", "aiops.cli", "serve", "--port", str(port)],
            env={**os.environ, "AIOPS_DB": db},
            cwd=tmp,
            stderr=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(100):
                try:
                    if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.1)
            rng = random.Random(1)
            services = [f"svc-{i:02d}" for i in range(40)]
            lists = (
                ["/v1/incidents?limit=100"]
                + [f"/v1/incidents?service={s}&limit=50" for s in services]
                + ["/v1/incidents?status=open&limit=100"]
            )
            verdicts = [f"/v1/deployments/{rng.choice(deploy_ids)}/verdict" for _ in range(500)]
            for name, paths in (("GET /v1/incidents", lists), ("GET /v1/deployments/{id}/verdict", verdicts)):
                asyncio.run(phase(base, paths[:20], args.rate, 2))  # warm-up
                lat, errors = asyncio.run(phase(base, paths, args.rate, args.seconds))
                print(
                    f"{name:<36} {len(lat):>5} requests at {args.rate:.0f}/s: p50 {pct(lat, 0.5):6.1f} ms  "
                    f"p95 {pct(lat, 0.95):6.1f} ms  p99 {pct(lat, 0.99):6.1f} ms  errors {errors}",
                    flush=True,
                )
        finally:
            server.terminate()
            server.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
