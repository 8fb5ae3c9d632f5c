"""``aiops report delivery``: the delivery report of the store, as a table, JSON or CSV, and a chart.

Every failure is one line on stderr and exit status 2, never a traceback.

>>> import io
>>> err = io.StringIO()
>>> run_report(["--since", "a while"], "sqlite://:memory:", (), io.StringIO(), err)
2
>>> err.getvalue()
"aiops report delivery: since: 'a while' is not a duration such as 30d, 12h or 2w\\n"
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from aiops.delivery import Bucket, delivery_report, parse_duration
from aiops.delivery_format import delivery_svg, format_csv, format_table
from aiops.parsing import parse_time
from aiops.store import SqlStore, open_store

PROG = "aiops report delivery"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--team", help="one team (deploy's team, or AIOPS_SERVICE_TEAMS)")
    p.add_argument("--service", help="one service")
    p.add_argument("--since", default="30d", help="range ending now (or at --to): 30d, 12h, 2w... (default 30d)")
    p.add_argument("--from", dest="start", help="range start, epoch seconds or RFC 3339 (instead of --since)")
    p.add_argument("--to", dest="end", help="range end, epoch seconds or RFC 3339 (default: now)")
    p.add_argument("--bucket", choices=[b.value for b in Bucket], default="week")
    p.add_argument("--format", choices=["table", "json", "csv"], default="table")
    p.add_argument("--chart", type=Path, help="also draw the buckets into this SVG file")
    p.add_argument("--db", help="store URL (default: $AIOPS_DB)")


class _Refused(Exception):
    """One line for the user."""


def _open(url: str, service_teams: Sequence[tuple[str, str]]) -> SqlStore:
    if url.startswith("sqlite://") and ":memory:" not in url:
        path = Path(url.removeprefix("sqlite://").removeprefix("/")).expanduser()
        if not path.is_file():
            raise _Refused(f"AIOPS_DB: {path} does not exist (set AIOPS_DB or --db to the service's store)")
    try:
        store = open_store(url)
    except Exception as exc:  # the driver's own errors: one line, not a traceback
        raise _Refused(f"AIOPS_DB: cannot open {url.split('@')[-1]}: {str(exc).strip().splitlines()[0]}") from None
    store.set_service_teams(dict(service_teams))
    return store


def run_report(
    argv: Sequence[str], db: str, service_teams: Sequence[tuple[str, str]], out: IO[str], err: IO[str]
) -> int:
    p = argparse.ArgumentParser(prog=PROG, description="Delivery metrics (DORA) from the store.")
    add_arguments(p)
    return run_parsed(p.parse_args(argv), db, service_teams, out, err)


def run_parsed(
    args: argparse.Namespace, db: str, service_teams: Sequence[tuple[str, str]], out: IO[str], err: IO[str]
) -> int:
    try:
        end = parse_time(args.end, "to") if args.end else float(int(time.time()))
        start = parse_time(args.start, "from") if args.start else end - parse_duration(args.since, "since")
        if args.chart is not None and args.chart.suffix.lower() != ".svg":
            raise _Refused(f"--chart: {args.chart} must be an .svg file (PNG is not supported)")
        store = _open(args.db or db, service_teams)
        try:
            report = delivery_report(
                store,
                start=start,
                end=end,
                bucket=Bucket(args.bucket),
                service=args.service,
                team=args.team,
            )
        finally:
            store.close()
        if args.chart is not None:
            args.chart.write_text(delivery_svg(report))
    except (ValueError, _Refused) as exc:
        print(f"{PROG}: {exc}", file=err)
        return 2
    except OSError as exc:
        print(f"{PROG}: {getattr(exc, 'filename', '') or ''}: {exc.strerror or exc}", file=err)
        return 2
    if args.format == "json":
        out.write(json.dumps(report, indent=2) + "\n")
    elif args.format == "csv":
        out.write(format_csv(report))
    else:
        out.write(format_table(report))
    return 0
