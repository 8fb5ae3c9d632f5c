"""The ``aiops`` command: demo, replay, serve, consume, score, evaluate, gate.

Every command fails with one line on stderr and an exit code that says what kind of failure it was,
never a traceback, so that scripts and CI can tell a typo from an outage:

- 2: usage or configuration (a bad argument, a malformed ``AIOPS_*`` variable, a bad store URL);
- 66: an input or output file cannot be read or written (missing, a directory, no permission);
- 69: a service cannot be reached (the PostgreSQL store, the Kafka brokers).

``aiops gate`` keeps 0-3 for its verdicts (0 pass, 1 fail, 2 inconclusive/timeout, 3 service
unreachable or deployment unknown) and answers 4 for a usage or configuration mistake, which CI must
not read as "inconclusive".
"""

from __future__ import annotations

import argparse
import io
import ipaddress
import json
import logging
import socket
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from aiops.config import ConfigError, Settings

log = logging.getLogger("aiops")

EXIT_USAGE = 2
EXIT_GATE_USAGE = 4
EXIT_FILE = 66  # sysexits EX_NOINPUT
EXIT_UNAVAILABLE = 69  # sysexits EX_UNAVAILABLE


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="aiops", description="Deploy-aware anomaly detection.")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="simulate a small fleet with one bad deploy and show the verdicts")
    demo.add_argument("--seed", type=int, default=42)
    demo.add_argument(
        "--db", help="store URL (default: $AIOPS_DB if set, else aiops-demo.db here, replaced at each run)"
    )

    rp = sub.add_parser("replay", help="replay a JSONL file of events through the engine (docs/contracts.md 4)")
    rp.add_argument("events", help="JSONL file of events in time order, or - for standard input")
    rp.add_argument(
        "--sort",
        action="store_true",
        help="put the input in event-time order first (an external sort: works on files larger than memory)",
    )
    rp.add_argument("--out", type=Path, help="results JSONL (default: stdout)")
    rp.add_argument("--rejects", type=Path, help="write every rejected line with its reason (JSONL)")
    rp.add_argument("--db", help="also store results in this store URL (default: no store)")
    rp.add_argument("--quiet", action="store_true", help="no progress bar or summary on stderr")

    sv = sub.add_parser("serve", help="run the HTTP API")
    sv.add_argument("--host", default="127.0.0.1")
    sv.add_argument("--port", type=int, default=8080)
    sv.add_argument("--consume", action="store_true", help="also run the Kafka consumers in this process")
    sv.add_argument(
        "--no-access-log", dest="access_log", action="store_false", help="do not log every request (on stdout)"
    )
    sv.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])

    pr = sub.add_parser("produce", help="send a JSONL file of events to the Kafka topics, keyed by service")
    pr.add_argument("events", type=Path)

    sub.add_parser("consume", help="run Kafka consumers only (group member; run one per share of partitions)")

    tp = sub.add_parser("topics", help="create the Kafka topics with their settings (the rollups topic compacted)")
    tp.add_argument("--partitions", type=int, default=6, help="partitions of each topic (default 6)")

    sc = sub.add_parser("score", help="streaming anomaly scores of one NAB-style series (docs/contracts.md 5)")
    sc.add_argument("input", type=Path)
    sc.add_argument("--out", type=Path)

    ev = sub.add_parser("evaluate", help="evaluate detectors on a labelled corpus")
    ev.add_argument("corpus", choices=["nab"])
    ev.add_argument("directory", type=Path)
    ev.add_argument("--out", type=Path, help="write per-file scores (JSON)")

    gt = sub.add_parser(
        "gate", help="release gate: exit 0 pass, 1 fail, 2 inconclusive/timeout, 3 unreachable/unknown, 4 usage"
    )
    target = gt.add_mutually_exclusive_group(required=True)
    target.add_argument("--deployment")
    target.add_argument("--service")
    gt.add_argument("--version")
    gt.add_argument("--wait", action="store_true", help="poll until the verdict is final")
    gt.add_argument("--timeout", type=float, default=1800.0)
    gt.add_argument("--url", help="service address (default: $AIOPS_URL or http://127.0.0.1:8080)")

    from aiops.delivery_cli import add_arguments as delivery_arguments

    rep = sub.add_parser("report", help="reports from the store")
    reports = rep.add_subparsers(dest="report", required=True)
    delivery_arguments(
        reports.add_parser("delivery", help="delivery metrics (DORA): frequency, lead time, failures, restore")
    )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    gate = _command_of(argv) == "gate"
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:
        # argparse exits 2 on a usage error, which `aiops gate` answers for "inconclusive".
        if gate and exc.code == EXIT_USAGE:
            return EXIT_GATE_USAGE
        raise
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # kafka-python logs every connection at INFO; its warnings are what an operator needs.
    for noisy in ("kafka", "httpx"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if args.verbose else logging.WARNING)
    usage = EXIT_GATE_USAGE if gate else EXIT_USAGE
    handler = {
        "demo": _demo,
        "replay": _replay,
        "produce": _produce,
        "serve": _serve,
        "consume": _consume,
        "topics": _topics,
        "score": _score,
        "evaluate": _evaluate,
        "gate": _gate,
        "report": _report,
    }[args.command]
    name = f"aiops {args.command}"
    try:
        settings = Settings.from_env()
        return handler(args, settings)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        code, message = _failure(exc, usage)
        if code is None:
            raise
        print(f"{name}: {message}", file=sys.stderr)
        return code


def _command_of(argv: Sequence[str]) -> str | None:
    """The subcommand named in ``argv`` (the first word that is not an option), even if parsing fails."""
    return next((a for a in argv if not a.startswith("-")), None)


def _failure(exc: Exception, usage: int) -> tuple[int | None, str]:
    """Exit code and one line for an error a user can fix; ``None`` for a bug (keep its traceback)."""
    from aiops.store import StoreConfigError, StoreUnavailable

    if isinstance(exc, ConfigError):
        return usage, f"configuration error: {exc}"
    if isinstance(exc, StoreConfigError):
        return usage, f"configuration error: store: {exc}"
    if isinstance(exc, StoreUnavailable):
        return EXIT_UNAVAILABLE, f"store unavailable: {exc}"
    if type(exc).__module__.startswith("kafka."):  # NoBrokersAvailable, KafkaConnectionError, ...
        return EXIT_UNAVAILABLE, f"Kafka unavailable: {exc or type(exc).__name__}"
    if isinstance(exc, OSError) and exc.filename is not None:
        return EXIT_FILE, f"{exc.filename}: {exc.strerror or exc}"
    return None, ""


def _demo(args: argparse.Namespace, settings: Settings) -> int:
    from aiops.eval.demo import DEMO_DB, fresh_demo_store, run_demo

    # The demo keeps apart from aiops.db, the store `aiops serve` uses by default, unless told otherwise.
    db = args.db or (settings.db if settings.db != Settings().db else DEMO_DB)
    if db == DEMO_DB:
        fresh_demo_store()
    return run_demo(settings, sys.stdout, seed=args.seed, db=db)


def _replay(args: argparse.Namespace, settings: Settings) -> int:
    from aiops.pipeline import build_pipeline
    from aiops.replay import replay_file, replay_stream, write_rejections, write_rejections_jsonl, write_report
    from aiops.store import open_store

    if args.events != "-":
        path = Path(args.events)
        if path.is_dir():
            print(f"aiops replay: {path}: is a directory (give a JSONL file, or - for standard input)", file=sys.stderr)
            return EXIT_FILE
        if not path.is_file():
            print(f"aiops replay: {path}: no such file", file=sys.stderr)
            return EXIT_FILE
    store = open_store(args.db) if args.db else None
    try:
        pipeline = build_pipeline(settings, store)
        progress = sys.stderr if sys.stderr.isatty() and not args.quiet else None
        options: dict[str, Any] = {
            "service_labels": settings.service_labels,
            "max_bytes": settings.max_record_bytes,
            "progress": progress,
            "sort": args.sort,
        }
        if args.events == "-":
            report = replay_stream(sys.stdin.buffer, pipeline, **options)
        else:
            report = replay_file(Path(args.events), pipeline, **options)
    finally:
        if store is not None:
            store.close()
    if args.out:
        with args.out.open("w") as fh:
            write_report(report, fh)
    else:
        write_report(report, sys.stdout)
    if args.rejects:
        with args.rejects.open("w") as fh:
            write_rejections_jsonl(report, fh)
    if not args.quiet:
        write_rejections(report, sys.stderr)
        print(report.human_summary(), file=sys.stderr)
    elif report.late:
        print(report.human_summary().splitlines()[-1], file=sys.stderr)  # the warning is never quiet
    return 0


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        try:
            return all(ipaddress.ip_address(info[4][0]).is_loopback for info in socket.getaddrinfo(host, None))
        except OSError:
            return False


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from aiops.api.app import create_app
    from aiops.store import open_store

    if not settings.tokens:
        if not is_loopback(args.host):
            print(
                f"aiops serve: refusing to listen on {args.host} without API tokens; set AIOPS_API_TOKENS "
                "(name:scope:secret,...) or AIOPS_API_TOKENS_FILE, or listen on 127.0.0.1",
                file=sys.stderr,
            )
            return 2
        log.warning("no API tokens configured: serving on loopback (%s) only, without auth", args.host)
    store = open_store(settings.db)
    app = create_app(settings, store)
    consumer = None
    if args.consume:
        from aiops.consumers.process import start_in_background

        consumer = start_in_background(settings, app.state.pipeline, app.state.metrics)
    host = f"[{args.host}]" if ":" in args.host else args.host
    print(
        f"aiops serve: listening on http://{host}:{args.port} (API docs at /docs, store {_redacted(settings.db)}"
        f"{', access log on stdout' if args.access_log else ''})",
        file=sys.stderr,
        flush=True,
    )
    sender = None
    try:
        sender = _start_sender(settings, app.state.metrics)
        # uvicorn's own access log ("GET /v1/... 200"), on stdout; --no-access-log turns it off.
        uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, access_log=args.access_log)
    finally:
        if sender is not None:
            sender.stop()
        if consumer is not None:
            consumer.stop()
        store.close()
    return 0


def _start_sender(settings: Settings, metrics: Any = None) -> Any:
    """Notifications (aiops/notify): a sender thread when AIOPS_NOTIFY_* names a channel, else None."""
    from aiops.notify.sender import start_sender

    return start_sender(settings.db, metrics=metrics)


def _redacted(url: str) -> str:
    """A store URL fit to print: the password, if any, hidden."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@", 1)
    return url


def _produce(args: argparse.Namespace, settings: Settings) -> int:
    from aiops.consumers.produce import produce_events

    if not settings.kafka_bootstrap:
        print("aiops produce: AIOPS_KAFKA_BOOTSTRAP: not set", file=sys.stderr)
        return 2
    if not args.events.is_file():  # before connecting: a typo must not wait for the broker first
        what = "is a directory" if args.events.is_dir() else "no such file"
        print(f"aiops produce: {args.events}: {what}", file=sys.stderr)
        return EXIT_FILE

    def lines() -> Iterator[dict[str, Any] | bytes]:
        with args.events.open("rb") as fh:
            for line in fh:
                if line.strip():
                    try:
                        yield json.loads(line)
                    except ValueError:
                        yield line.rstrip(b"\n")  # bad lines travel as they are, to be dead-lettered

    n = produce_events(lines(), settings)
    print(f"aiops produce: {n:,} events sent", file=sys.stderr)
    return 0


def _topics(args: argparse.Namespace, settings: Settings) -> int:
    from aiops.consumers.clients import create_topics

    if not settings.kafka_bootstrap:
        print("aiops topics: AIOPS_KAFKA_BOOTSTRAP: not set", file=sys.stderr)
        return 2
    if args.partitions < 1:
        print(f"aiops topics: --partitions: {args.partitions} must be at least 1", file=sys.stderr)
        return 2
    for name, state in create_topics(settings, args.partitions).items():
        print(f"{name}: {state}")
    return 0


def _consume(args: argparse.Namespace, settings: Settings) -> int:
    from aiops.consumers.process import run_forever

    sender = _start_sender(settings)
    try:
        return run_forever(settings)
    finally:
        if sender is not None:
            sender.stop()


def _score(args: argparse.Namespace, settings: Settings) -> int:
    from aiops.eval.scoring import score_csv

    # Scored in memory first: a bad line fails the run without truncating an existing --out file.
    scored = io.StringIO()
    try:
        with args.input.open(newline="") as fh:
            score_csv(fh, scored)
        if args.out:
            args.out.write_text(scored.getvalue(), newline="")
        else:
            sys.stdout.write(scored.getvalue())
    except ValueError as exc:  # a bad row; a file that cannot be read or written is main's (exit 66)
        print(f"aiops score: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return 0


def _evaluate(args: argparse.Namespace, settings: Settings) -> int:
    from aiops.eval.nab import evaluate_nab

    result = evaluate_nab(args.directory, progress=sys.stderr)
    if args.out:
        args.out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result["scores"], indent=2))
    return 0


def _gate(args: argparse.Namespace, settings: Settings) -> int:
    from aiops.gate import run_gate

    if args.service and not args.version:
        print("aiops gate: --service needs --version", file=sys.stderr)
        return EXIT_GATE_USAGE
    return run_gate(
        deployment=args.deployment,
        service=args.service,
        version=args.version,
        wait=args.wait,
        timeout=args.timeout,
        url=args.url,
        out=sys.stdout,
    )


def _report(args: argparse.Namespace, settings: Settings) -> int:
    from aiops.delivery_cli import run_parsed

    return run_parsed(args, settings.db, settings.service_teams, sys.stdout, sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
