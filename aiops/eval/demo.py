"""``aiops demo``: a small simulated fleet through the real engine and store, explained for a person."""

from __future__ import annotations

import sys
import textwrap
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from aiops.config import Settings
from aiops.eval.simulate import FleetSpec, simulate_fleet
from aiops.model import Effects, Incident, Verdict, VerdictResult
from aiops.parsing import parse_value
from aiops.pipeline import build_pipeline
from aiops.store import IncidentFilter, open_store

DEMO_SPEC = FleetSpec(
    services=5,
    hours=10,
    deploys_per_service=2,
    bad_count=1,
    fleet_incidents=1,
    rollback_share=0.0,
    effect_range=(0.3, 0.6),
)


# The demo's own store, replaced at each run: never the aiops.db that `aiops serve` uses by default,
# and never a store where a person acknowledged the incidents of an earlier run.
DEMO_DB = "sqlite:///aiops-demo.db"

SCORE_NOTE = (
    "score: 0-100, how clean the deploy looks (100: nothing moved the wrong way; a fail scores 40 or "
    "less, a pass 60 or more)"
)
CHANGE_NOTE = (
    "raw: current / baseline - 1. net: the change the deploy made, after taking out what the services "
    "that did not deploy did over the same windows (the control group); the verdict is judged on net."
)

P_SIGMA_NOTE = "p: one-sided test in the worse direction; sigma: the shift in robust standard deviations."


def fresh_demo_store(url: str = DEMO_DB) -> None:
    """Remove the demo's SQLite file (and its WAL files) so that each demo starts from nothing."""
    path = Path(url.removeprefix("sqlite:///"))
    for suffix in ("", "-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)


def _wrap(text: str, indent: int, width: int = 100) -> str:
    """Whole reasons, wrapped at words: a cut one ("...did not deploy too): not") says something else."""
    pad = " " * indent
    return textwrap.fill(text, width=width, initial_indent=pad, subsequent_indent=pad) + "\n"


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


def run_demo(settings: Settings, out: IO[str], seed: int = 42, db: str | None = None) -> int:
    """Run the demo fleet into the store ``db`` (default: ``settings.db``) and explain the results."""
    db = db or settings.db
    fleet = simulate_fleet(DEMO_SPEC, seed=seed)
    parsed = parse_value(fleet.events)
    store = open_store(db)
    pipeline = build_pipeline(settings, store)
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
    where = f"{db} (the demo's own store, replaced at each run)" if db == DEMO_DB else db
    w(f"{len(parsed.records):,} events analysed in event time in {elapsed:.1f} s; stored in {where}\n\n")
    w("DEPLOYMENTS\n")
    w(f"  {'service':<10} {'version':<8} {'deployed':>8}  {'verdict':<12} {'score':>5}  {'decided':>7}\n")
    verdicts = sorted(effects.verdicts, key=lambda v: truth[v.deployment_id]["ts"] if v.deployment_id in truth else 0)
    for v in verdicts:
        t = truth.get(v.deployment_id, {})
        mark = "  <- the bad one" if t.get("bad") else ("  <- just before the fleet problem" if t.get("fleet") else "")
        w(
            f"  {v.service:<10} {v.version:<8} {_clock(t.get('ts')):>8}  {v.verdict.value.upper():<12} {v.score:5.0f}  "
            f"{_clock(v.decided_at):>7}{mark}\n"
        )
        w(_wrap(v.reason, 6))
    w(_wrap(SCORE_NOTE, 2))
    for v in verdicts:
        if v.verdict is VerdictResult.FAIL:
            _evidence(out, v, truth.get(v.deployment_id, {}).get("ts"))
    # What the store holds, not what this run computed: with a store of earlier runs (AIOPS_DB, --db)
    # a person may have acknowledged an incident since, and the API shows the store.
    stored = store.list_incidents(IncidentFilter(), limit=1000).items
    deployments = store.list_deployments(limit=1000).items
    statuses = Counter(i.status.value for i in stored)
    w(f"\nINCIDENTS ({len(stored)}, as the store holds them)\n")
    for inc in sorted(stored, key=lambda i: i.opened_at):
        _incident(out, inc)
    w(
        f"\nThe store {db} now holds {len(deployments)} deployments and {len(stored)} incidents"
        f" ({', '.join(f'{n} {s}' for s, n in sorted(statuses.items())) or 'none'}).\n"
    )
    failed = [v for v in verdicts if v.verdict is VerdictResult.FAIL]
    example = failed[0].deployment_id if failed else (verdicts[0].deployment_id if verdicts else "ID")
    w("\nWHERE TO LOOK\n")
    cmd = _command_name()
    serve = f"{cmd} serve" if db == settings.db else f"AIOPS_DB={db} {cmd} serve"
    w(f"  {serve}   # API on http://127.0.0.1:8080 over the same store\n")
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
        f"  {'metric':<36} {'verdict':<12} {'baseline':>10} {'current':>10} {'raw':>6} {'net':>6} {'p':>9} "
        f"{'sigma':>6}\n"
    )
    for m in v.metrics:
        change = f"{m.change:+.0%}" if m.change is not None else "-"
        raw = (
            f"{m.current / m.baseline - 1:+.0%}"
            if m.baseline is not None and m.current is not None and abs(m.baseline) > 1e-12
            else "-"
        )
        p = f"{m.p_value:.1e}" if m.p_value is not None else "-"
        sigma = f"{m.effect:+.1f}" if m.effect is not None else "-"
        base = f"{m.baseline:.4g}" if m.baseline is not None else "-"
        cur = f"{m.current:.4g}" if m.current is not None else "-"
        out.write(
            f"  {m.metric:<36} {m.verdict.value:<12} {base:>10} {cur:>10} {raw:>6} {change:>6} {p:>9} {sigma:>6}\n"
        )
    out.write(_wrap(CHANGE_NOTE, 2) + _wrap(P_SIGMA_NOTE, 2))


def _incident(out: IO[str], inc: Incident) -> None:
    blame = f"blames {inc.deployment_id}" if inc.deployment_id else "blames no deploy"
    out.write(
        f"  {inc.id}  {inc.service:<10} {inc.status.value:<12} opened {_clock(inc.opened_at)}  {blame}, "
        f"confidence {inc.confidence:.2f}\n"
    )
    out.write(_wrap(inc.summary, 4))
