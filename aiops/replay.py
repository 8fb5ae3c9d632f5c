"""``aiops replay``: a JSONL file of mixed events through the live engine, in event time.

Output lines follow docs/contracts.md section 4: one ``verdict`` per deployment, one ``incident``
per incident (its last state), then a ``summary``. Bad lines are counted and reported, never fatal.

Every input line lands in exactly one count of the summary: ``accepted``, ``rejected``, ``skipped``
(valid, no sample: a staleness marker) or ``empty`` (a blank line, ``[]``); a line holding a JSON
array counts each of its records instead. ``late`` counts, among the accepted, the samples stamped
more than the lateness allowance behind the latest event time already read: the engine had taken
its looks without them, so a file that is not in time order gives wrong verdicts. Such a file is
reported, and ``--sort`` (:func:`sorted_lines`, an external merge sort) puts it in order first.
"""

from __future__ import annotations

import heapq
import json
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from aiops.model import ChangeEvent, Effects, Incident, MetricSample, Record, Verdict
from aiops.parsing import DEFAULT_MAX_BYTES, DEFAULT_SERVICE_LABELS, Rejection, clean_native_sample, parse_payload
from aiops.pipeline import Pipeline

CHUNK_LINES = 4096
# Lines held in memory per sorted run of --sort: about 100 MB of typical 300-byte lines.
SORT_RUN_LINES = 300_000
# Runs merged at once: well under the usual limit of 1,024 open files.
SORT_FAN_IN = 256


@dataclass(slots=True)
class ReplayReport:
    lines: int = 0
    accepted: int = 0
    skipped: int = 0
    empty: int = 0  # lines that carry no record: blank lines, empty arrays
    late: int = 0  # accepted samples that came more than the lateness allowance behind the watermark
    first_late_line: int | None = None
    lateness: float = 0.0
    sorted_input: bool = False
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
            "empty": self.empty,
            "late": self.late,
            "sorted": self.sorted_input,
            "lines": self.lines,
            "deployments": len(self.verdicts),
            "verdicts": dict(sorted(by_verdict.items())),
            "incidents": len(self.incidents),
            "rejected_fields": dict(reasons.most_common()),
            "seconds": round(self.seconds, 3),
        }

    def human_summary(self) -> str:
        """The summary for a person on stderr: counts in words, never a Python dict."""
        s = self.summary()
        verdicts = ", ".join(f"{n} {name}" for name, n in s["verdicts"].items())
        text = (
            f"replay: {s['lines']:,} lines: {s['accepted']:,} accepted ({s['late']:,} late), "
            f"{s['rejected']:,} rejected, {s['skipped']:,} skipped, {s['empty']:,} empty; "
            f"{s['deployments']} deployments"
            + (f" ({verdicts})" if verdicts else "")
            + f"; {s['incidents']} incidents; {s['seconds']:.2f} s"
        )
        if self.late:
            text += (
                f"\nreplay: warning: {self.late:,} samples came more than {self.lateness:g} s of event time "
                f"behind the latest one read (first at line {self.first_late_line}): the input is not in "
                "time order and the verdicts may be wrong. Replay with --sort, or sort the file by event "
                "time first (AIOPS_LATENESS_S sets the allowance)."
            )
        return text


def replay_file(
    path: Path,
    pipeline: Pipeline,
    *,
    service_labels: tuple[str, ...] = DEFAULT_SERVICE_LABELS,
    max_bytes: int = DEFAULT_MAX_BYTES,
    progress: IO[str] | None = None,
    sort: bool = False,
) -> ReplayReport:
    """Replay ``path`` through ``pipeline``; line numbers in rejections are 1-based."""
    with path.open("rb") as fh:
        return replay_stream(
            fh,
            pipeline,
            service_labels=service_labels,
            max_bytes=max_bytes,
            progress=progress,
            total_bytes=path.stat().st_size,
            sort=sort,
        )


def replay_stream(
    fh: IO[bytes],
    pipeline: Pipeline,
    *,
    service_labels: tuple[str, ...] = DEFAULT_SERVICE_LABELS,
    max_bytes: int = DEFAULT_MAX_BYTES,
    progress: IO[str] | None = None,
    total_bytes: int | None = None,
    sort: bool = False,
    sort_run_lines: int = SORT_RUN_LINES,
) -> ReplayReport:
    """Replay a byte stream (a file, standard input); with ``sort``, in event-time order."""
    report = ReplayReport(lateness=pipeline.engine.config.lateness, sorted_input=sort)
    started = time.perf_counter()
    lines: Iterable[tuple[int, bytes]] = enumerate(fh, 1)
    if sort:
        lines = sorted_lines(fh, service_labels=service_labels, max_bytes=max_bytes, run_lines=sort_run_lines)
        total_bytes = None  # the progress of the merge is not the position in the input
    done_bytes = 0
    last_draw = 0.0
    watermark = float("-inf")
    lateness = report.lateness
    records: list[Any] = []
    changes: list[ChangeEvent] = []
    for lineno, line in lines:
        report.lines += 1
        done_bytes += len(line)
        # Nearly every line is one clean native sample: orjson and the consumers' fast path read it
        # (the same sample the full parser gives); anything else gets the full treatment.
        sample = clean_native_sample(line, max_bytes)
        if sample is not None:
            parsed_records: list[Record] = [sample]
        elif not line.strip():
            report.empty += 1
            continue
        else:
            parsed = parse_payload(line, service_labels=service_labels, max_bytes=max_bytes)
            if not (parsed.records or parsed.changes or parsed.rejections or parsed.skipped):
                report.empty += 1  # `[]`
            parsed_records = parsed.records
            changes.extend(parsed.changes)
            report.skipped += parsed.skipped
            report.rejections.extend((lineno, r) for r in parsed.rejections)
        for record in parsed_records:
            if record.ts > watermark:
                watermark = record.ts
            elif type(record) is MetricSample and record.ts < watermark - lateness:
                report.late += 1
                if report.first_late_line is None:
                    report.first_late_line = lineno
        records.extend(parsed_records)
        if len(records) >= CHUNK_LINES:
            report.accepted += len(records) + len(changes)
            report.absorb(pipeline.ingest_records(records, source="replay", changes=changes).effects)
            records, changes = [], []
            if progress is not None and time.perf_counter() - last_draw > 0.2:
                last_draw = time.perf_counter()
                _draw(progress, done_bytes / total_bytes if total_bytes else None, report.lines)
    report.accepted += len(records) + len(changes)
    report.absorb(pipeline.ingest_records(records, source="replay", changes=changes).effects)
    report.absorb(pipeline.finish())
    report.rejections.sort(key=lambda item: item[0])
    report.seconds = time.perf_counter() - started
    if progress is not None:
        _draw(progress, 1.0, report.lines)
        progress.write("\n")
    return report


def _line_key(line: bytes, service_labels: tuple[str, ...], max_bytes: int) -> float:
    """Event time a line sorts by: its earliest record; -inf for lines without one (counted first)."""
    sample = clean_native_sample(line, max_bytes)
    if sample is not None:
        return sample.ts
    if not line.strip():
        return float("-inf")
    parsed = parse_payload(line, service_labels=service_labels, max_bytes=max_bytes)
    return min((r.ts for r in parsed.records), default=float("-inf"))


def sorted_lines(
    fh: IO[bytes],
    *,
    service_labels: tuple[str, ...] = DEFAULT_SERVICE_LABELS,
    max_bytes: int = DEFAULT_MAX_BYTES,
    run_lines: int = SORT_RUN_LINES,
    fan_in: int = SORT_FAN_IN,
) -> Iterator[tuple[int, bytes]]:
    """``(line number, line)`` in event-time order, original order among equal times.

    An external merge sort, so that a file larger than memory can be put in order: runs of
    ``run_lines`` lines are sorted in memory and written to temporary files, then merged lazily,
    at most ``fan_in`` at a time (more runs are first merged into longer ones: open files are
    limited). Each run line is ``key<TAB>lineno<TAB>original line``; JSONL lines hold no raw newline.
    """
    with tempfile.TemporaryDirectory(prefix="aiops-sort-") as folder:
        runs: list[Path] = []
        made = 0
        batch: list[tuple[float, int, bytes]] = []

        def new_run() -> Path:
            nonlocal made
            made += 1
            return Path(folder) / f"run-{made:06d}"

        def spill() -> None:
            batch.sort(key=lambda item: (item[0], item[1]))
            run = new_run()
            with run.open("wb") as out:
                for key, lineno, line in batch:
                    out.write(b"%r\t%d\t" % (key, lineno) + line.rstrip(b"\r\n") + b"\n")
            runs.append(run)
            batch.clear()

        for lineno, line in enumerate(fh, 1):
            batch.append((_line_key(line, service_labels, max_bytes), lineno, line))
            if len(batch) >= run_lines:
                spill()
        if batch:
            spill()
        while len(runs) > fan_in:
            group, runs = runs[:fan_in], runs[fan_in:]
            merged = new_run()
            with merged.open("wb") as out:
                for key, lineno, line in _merge(group):
                    out.write(b"%r\t%d\t" % (key, lineno) + line)
            for run in group:
                run.unlink()
            runs.append(merged)
        for _, lineno, line in _merge(runs):
            yield lineno, line


def _merge(runs: list[Path]) -> Iterator[tuple[float, int, bytes]]:
    """The lines of sorted runs, merged in (time, line number) order."""
    handles = [run.open("rb") for run in runs]
    try:
        yield from heapq.merge(*(_read_run(h) for h in handles), key=lambda x: (x[0], x[1]))
    finally:
        for h in handles:
            h.close()


def _read_run(fh: IO[bytes]) -> Iterator[tuple[float, int, bytes]]:
    for raw in fh:
        key, lineno, line = raw.split(b"\t", 2)
        yield float(key), int(lineno), line


def _draw(out: IO[str], fraction: float | None, lines: int) -> None:
    """A progress bar when the input size is known (a file), else a line count (stdin, --sort)."""
    if fraction is None:
        out.write(f"\rreplay {lines:,} lines")
    else:
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
