"""``aiops demo``: a small simulated fleet through the real engine and store, explained for a person."""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from aiops.config import Settings
from aiops.engine import Engine
from aiops.eval.simulate import FleetSpec, simulate_fleet
from aiops.model import Effects, Incident, Verdict, VerdictResult
from aiops.parsing import parse_value
from aiops.pipeline import Pipeline
from aiops.store import open_store

DEMO_SPEC = FleetSpec(
    services=5,
    hours=10,
    deploys_per_service=2,
    bad_count=1,
    fleet_incidents=1,
    rollback_share=0.0,
    effect_range=(0.3, 0.6),
)


def _command_name() -> str:
    """How the user can call aiops again: the script that runs now, relative to here when close."""
    argv0 = Path(sys.argv[0])
    if argv0.name != "aiops":
        return "aiops"
    try:
        return str(argv0.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(argv0)


def _clock(ts: float | None) -> str:
    if ts is None:
        return "-"
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%H:%M")


def run_demo(settings: Settings, out: IO[str], seed: int = 42) -> int:
    fleet = simulate_fleet(DEMO_SPEC, seed=seed)
    parsed = parse_value(fleet.events)
    store = open_store(settings.db)
    pipeline = Pipeline(Engine(settings.engine), store)
    started = time.perf_counter()
    effects = Effects()
    chunk = 5000
    for i in range(0, len(parsed.records), chunk):
        effects.extend(pipeline.ingest_records(parsed.records[i : i + chunk], source="demo").effects)
    effects.extend(pipeline.finish())
    elapsed = time.perf_counter() - started
    truth = {t["id"]: t for t in fleet.truth}
    services = sorted({t["service"] for t in fleet.truth})
    w = out.write
    w(
        f"aiops demo: {len(services)} services ({', '.join(services)}), {DEMO_SPEC.hours:.0f} h of 4 metrics each, "
        f"{len(fleet.truth)} deploys, one of them bad, one fleet-wide latency problem.\n"
    )
    w(f"{len(parsed.records):,} events analysed in event time in {elapsed:.1f} s; stored in {settings.db}\n\n")
    w("DEPLOYMENTS\n")
    w(f"  {'service':<10} {'version':<8} {'deployed':>8}  {'verdict':<12} {'score':>5}  {'decided':>7}  reason\n")
    verdicts = sorted(effects.verdicts, key=lambda v: truth[v.deployment_id]["ts"] if v.deployment_id in truth else 0)
    for v in verdicts:
        t = truth.get(v.deployment_id, {})
        mark = "  <- the bad one" if t.get("bad") else ("  <- just before the fleet problem" if t.get("fleet") else "")
        w(
            f"  {v.service:<10} {v.version:<8} {_clock(t.get('ts')):>8}  {v.verdict.value.upper():<12} {v.score:5.0f}  "
            f"{_clock(v.decided_at):>7}  {v.reason[:90]}{mark}\n"
        )
    for v in verdicts:
        if v.verdict is VerdictResult.FAIL:
            _evidence(out, v, truth.get(v.deployment_id, {}).get("ts"))
    incidents = {i.id: i for i in effects.incidents}
    w(f"\nINCIDENTS ({len(incidents)})\n")
    for inc in sorted(incidents.values(), key=lambda i: i.opened_at):
        _incident(out, inc)
    failed = [v for v in verdicts if v.verdict is VerdictResult.FAIL]
    example = failed[0].deployment_id if failed else (verdicts[0].deployment_id if verdicts else "ID")
    w("\nWHERE TO LOOK\n")
    cmd = _command_name()
    w(f"  {cmd} serve                # API on http://127.0.0.1:8080 over the same store\n")
    w(f"  curl -s http://127.0.0.1:8080/v1/deployments/{example}/verdict\n")
    w("  curl -s 'http://127.0.0.1:8080/v1/incidents?status=open'\n")
    w(f"  {cmd} gate --deployment {example}   # exit 1: the release gate says fail\n")
    w("  http://127.0.0.1:8080/docs       # OpenAPI\n")
    store.close()
    bad_ok = all(
        (v.verdict is VerdictResult.FAIL) == bool(truth[v.deployment_id]["bad"])
        for v in verdicts
        if v.deployment_id in truth
    )
    w(f"\n{'All' if bad_ok else 'Not all'} verdicts match the simulation truth.\n")
    return 0


def _evidence(out: IO[str], v: Verdict, deployed: float | None) -> None:
    out.write(
        f"\nFAILED: {v.service} {v.version} ({v.deployment_id}), decided at {_clock(v.decided_at)}"
        f" ({((v.decided_at or 0) - (deployed or 0)) / 60:.0f} min after the deploy)\n"
    )
    out.write(
        f"  {'metric':<36} {'verdict':<12} {'baseline':>10} {'current':>10} {'change':>8} {'p':>9} {'sigma':>6}\n"
    )
    for m in v.metrics:
        change = f"{m.change:+.0%}" if m.change is not None else "-"
        p = f"{m.p_value:.1e}" if m.p_value is not None else "-"
        sigma = f"{m.effect:+.1f}" if m.effect is not None else "-"
        base = f"{m.baseline:.4g}" if m.baseline is not None else "-"
        cur = f"{m.current:.4g}" if m.current is not None else "-"
        out.write(f"  {m.metric:<36} {m.verdict.value:<12} {base:>10} {cur:>10} {change:>8} {p:>9} {sigma:>6}\n")


def _incident(out: IO[str], inc: Incident) -> None:
    blame = f"blames {inc.deployment_id}" if inc.deployment_id else "blames no deploy"
    out.write(
        f"  {inc.id}  {inc.service:<10} {inc.status.value:<8} opened {_clock(inc.opened_at)}  {blame}, "
        f"confidence {inc.confidence:.2f}\n    {inc.summary[:140]}\n"
    )
