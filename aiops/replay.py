"""``aiops replay``: a JSONL file of mixed events through the live engine, in event time.

Output lines follow CONTRACTS.md section 4: one ``verdict`` per deployment, one ``incident`` per
incident (its last state), then a ``summary``. Bad lines are counted and reported, never fatal.
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from aiops.model import ChangeEvent, Effects, Incident, Verdict
from aiops.parsing import DEFAULT_MAX_BYTES, DEFAULT_SERVICE_LABELS, Rejection, parse_payload
from aiops.service import Pipeline

CHUNK_LINES = 4096


@dataclass(slots=True)
class ReplayReport:
    lines: int = 0
    accepted: int = 0
    skipped: int = 0
    rejections: list[tuple[int, Rejection]] = field(default_factory=list)
    verdicts: dict[str, Verdict] = field(default_factory=dict)
    incidents: dict[str, Incident] = field(default_factory=dict)
    seconds: float = 0.0

    def absorb(self, effects: Effects) -> None:
        for v in effects.verdicts:
            self.verdicts[v.deployment_id] = v
        for i in effects.incidents:
            self.incidents[i.id] = i

    def output_lines(self) -> Iterator[dict[str, Any]]:
        for v in sorted(self.verdicts.values(), key=lambda v: (v.decided_at or 0.0, v.deployment_id)):
            yield {"kind": "verdict", **v.to_dict()}
        for i in sorted(self.incidents.values(), key=lambda i: (i.opened_at, i.id)):
            yield {"kind": "incident", **i.to_dict()}
        yield self.summary()

    def summary(self) -> dict[str, Any]:
        by_verdict = Counter(v.verdict.value for v in self.verdicts.values())
        reasons = Counter(r.reason.split(":", 1)[0] for _, r in self.rejections)
        return {
            "kind": "summary",
            "accepted": self.accepted,
            "rejected": len(self.rejections),
            "skipped": self.skipped,
            "lines": self.lines,
            "deployments": len(self.verdicts),
            "verdicts": dict(sorted(by_verdict.items())),
            "incidents": len(self.incidents),
            "rejected_fields": dict(reasons.most_common()),
            "seconds": round(self.seconds, 3),
        }


def replay_file(
    path: Path,
    pipeline: Pipeline,
    *,
    service_labels: tuple[str, ...] = DEFAULT_SERVICE_LABELS,
    max_bytes: int = DEFAULT_MAX_BYTES,
    progress: IO[str] | None = None,
) -> ReplayReport:
    """Replay ``path`` through ``pipeline``; line numbers in rejections are 1-based."""
    report = ReplayReport()
    started = time.perf_counter()
    total = path.stat().st_size or 1
    done_bytes = 0
    last_draw = 0.0
    records: list[Any] = []
    changes: list[ChangeEvent] = []
    with path.open("rb") as fh:
        for lineno, line in enumerate(fh, 1):
            report.lines = lineno
            done_bytes += len(line)
            if not line.strip():
                continue
            parsed = parse_payload(line, service_labels=service_labels, max_bytes=max_bytes)
            records.extend(parsed.records)
            changes.extend(parsed.changes)
            report.skipped += parsed.skipped
            report.rejections.extend((lineno, r) for r in parsed.rejections)
            if len(records) >= CHUNK_LINES:
                report.accepted += len(records) + len(changes)
                report.absorb(pipeline.ingest_records(records, source="replay", changes=changes).effects)
                records, changes = [], []
                if progress is not None and time.perf_counter() - last_draw > 0.2:
                    last_draw = time.perf_counter()
                    _draw(progress, done_bytes / total, lineno)
    report.accepted += len(records) + len(changes)
    report.absorb(pipeline.ingest_records(records, source="replay", changes=changes).effects)
    report.absorb(pipeline.finish())
    report.seconds = time.perf_counter() - started
    if progress is not None:
        _draw(progress, 1.0, report.lines)
        progress.write("\n")
    return report


def _draw(out: IO[str], fraction: float, lines: int) -> None:
    width = 30
    filled = int(width * fraction)
    out.write(f"\rreplay [{'#' * filled}{'.' * (width - filled)}] {fraction:4.0%} {lines:,} lines")
    out.flush()


def write_report(report: ReplayReport, out: IO[str]) -> None:
    for item in report.output_lines():
        out.write(json.dumps(item, separators=(",", ":")) + "\n")


def write_rejections(report: ReplayReport, out: IO[str], limit: int | None = 20) -> None:
    """Bad lines as ``line N: reason``; with a limit, the rest are counted."""
    shown = report.rejections if limit is None else report.rejections[:limit]
    for lineno, r in shown:
        out.write(f"line {lineno}: {r.reason}\n")
    if limit is not None and len(report.rejections) > limit:
        out.write(f"... and {len(report.rejections) - limit} more rejected lines (use --rejects FILE for all)\n")


def write_rejections_jsonl(report: ReplayReport, out: IO[str]) -> None:
    for lineno, r in report.rejections:
        out.write(json.dumps({"line": lineno, "reason": r.reason, "raw": r.raw.decode("utf-8", "replace")}) + "\n")


def stderr_is_terminal() -> bool:
    return sys.stderr.isatty()
