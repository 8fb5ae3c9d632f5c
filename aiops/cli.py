"""The ``aiops`` command: demo, replay, serve, consume, score, evaluate, gate."""

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
from aiops.store.base import StoreUnavailable

log = logging.getLogger("aiops")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="aiops", description="Deploy-aware anomaly detection.")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="simulate a small fleet with one bad deploy and show the verdicts")
    demo.add_argument("--seed", type=int, default=42)

    rp = sub.add_parser("replay", help="replay a JSONL file of events through the engine (CONTRACTS.md 4)")
    rp.add_argument("events", type=Path)
    rp.add_argument("--out", type=Path, help="results JSONL (default: stdout)")
    rp.add_argument("--rejects", type=Path, help="write every rejected line with its reason (JSONL)")
    rp.add_argument("--db", help="also store results in this store URL (default: no store)")
    rp.add_argument("--quiet", action="store_true", help="no progress bar or summary on stderr")

    sv = sub.add_parser("serve", help="run the HTTP API")
    sv.add_argument("--host", default="127.0.0.1")
    sv.add_argument("--port", type=int, default=8080)
    sv.add_argument("--consume", action="store_true", help="also run the Kafka consumers in this process")

    pr = sub.add_parser("produce", help="send a JSONL file of events to the Kafka topics, keyed by service")
    pr.add_argument("events", type=Path)

    sub.add_parser("consume", help="run Kafka consumers only (group member; run one per share of partitions)")

    sc = sub.add_parser("score", help="streaming anomaly scores of one NAB-style series (CONTRACTS.md 5)")
    sc.add_argument("input", type=Path)
    sc.add_argument("--out", type=Path)

    ev = sub.add_parser("evaluate", help="evaluate detectors on a labelled corpus")
    ev.add_argument("corpus", choices=["nab"])
    ev.add_argument("directory", type=Path)
    ev.add_argument("--out", type=Path, help="write per-file scores (JSON)")

    gt = sub.add_parser("gate", help="release gate: exit 0 pass, 1 fail, 2 inconclusive/timeout, 3 unreachable")
    target = gt.add_mutually_exclusive_group(required=True)
    target.add_argument("--deployment")
    target.add_argument("--service")
    gt.add_argument("--version")
    gt.add_argument("--wait", action="store_true", help="poll until the verdict is final")
    gt.add_argument("--timeout", type=float, default=1800.0)
    gt.add_argument("--url", help="service address (default: $AIOPS_URL or http://127.0.0.1:8080)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # kafka-python logs every connection at INFO; its warnings are what an operator needs.
    for noisy in ("kafka", "httpx"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if args.verbose else logging.WARNING)
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        print(f"aiops: configuration error: {exc}", file=sys.stderr)
        return 2
    handler = {
        "demo": _demo,
        "replay": _replay,
        "produce": _produce,
        "serve": _serve,
        "consume": _consume,
        "score": _score,
        "evaluate": _evaluate,
        "gate": _gate,
    }[args.command]
    try:
        return handler(args, settings)
    except ConfigError as exc:
        print(f"aiops: configuration error: {exc}", file=sys.stderr)
        return 2
    except StoreUnavailable as exc:  # an operator's problem, said in one line, not a traceback
        print(f"aiops: store unavailable: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _demo(args: argparse.Namespace, settings: Settings) -> int:
    from aiops.demo import run_demo

    return run_demo(settings, sys.stdout, seed=args.seed)


def _replay(args: argparse.Namespace, settings: Settings) -> int:
    from aiops.engine import Engine
    from aiops.replay import replay_file, write_rejections, write_rejections_jsonl, write_report
    from aiops.service import Pipeline
    from aiops.store import open_store

    if not args.events.is_file():
        print(f"aiops replay: {args.events}: no such file", file=sys.stderr)
        return 2
    store = open_store(args.db) if args.db else None
    pipeline = Pipeline(Engine(settings.engine), store)
    progress = sys.stderr if sys.stderr.isatty() and not args.quiet else None
    report = replay_file(
        args.events,
        pipeline,
        service_labels=settings.service_labels,
        max_bytes=settings.max_record_bytes,
        progress=progress,
    )
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
        s = report.summary()
        print(
            f"replay: {s['lines']:,} lines, {s['accepted']:,} accepted, {s['rejected']:,} rejected, "
            f"{s['skipped']:,} skipped; {s['deployments']} deployments {s['verdicts']}; "
            f"{s['incidents']} incidents; {s['seconds']:.2f} s",
            file=sys.stderr,
        )
    if store is not None:
        store.close()
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
        from aiops.consumers.runner import start_in_background

        consumer = start_in_background(settings, app.state.pipeline, app.state.metrics)
    try:
        uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    finally:
        if consumer is not None:
            consumer.stop()
        store.close()
    return 0


def _produce(args: argparse.Namespace, settings: Settings) -> int:
    from aiops.consumers.produce import produce_events

    if not settings.kafka_bootstrap:
        print("aiops produce: AIOPS_KAFKA_BOOTSTRAP: not set", file=sys.stderr)
        return 2

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


def _consume(args: argparse.Namespace, settings: Settings) -> int:
    from aiops.consumers.runner import run_forever

    return run_forever(settings)


def _score(args: argparse.Namespace, settings: Settings) -> int:
    from aiops.scoring import score_csv

    # Scored in memory first: a bad line fails the run without truncating an existing --out file.
    scored = io.StringIO()
    try:
        with args.input.open(newline="") as fh:
            score_csv(fh, scored)
        if args.out:
            args.out.write_text(scored.getvalue(), newline="")
        else:
            sys.stdout.write(scored.getvalue())
    except (OSError, ValueError) as exc:
        print(f"aiops score: {exc}", file=sys.stderr)
        return 2
    return 0


def _evaluate(args: argparse.Namespace, settings: Settings) -> int:
    from aiops.nab import evaluate_nab

    result = evaluate_nab(args.directory, progress=sys.stderr)
    if args.out:
        args.out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result["scores"], indent=2))
    return 0


def _gate(args: argparse.Namespace, settings: Settings) -> int:
    from aiops.gate import run_gate

    if args.service and not args.version:
        print("aiops gate: --service needs --version", file=sys.stderr)
        return 3
    return run_gate(
        deployment=args.deployment,
        service=args.service,
        version=args.version,
        wait=args.wait,
        timeout=args.timeout,
        url=args.url,
        out=sys.stdout,
    )


if __name__ == "__main__":
    sys.exit(main())
