"""How a consumer runs: as ``aiops consume`` (a process of its own, until a signal) or in a thread
beside the API (``aiops serve --consume``). The loop itself is :class:`~aiops.consumers.runner.ConsumerRunner`.
"""

from __future__ import annotations

import logging
import signal
import threading
from typing import Any

from aiops.config import Settings
from aiops.consumers.runner import ConsumerRunner
from aiops.metrics import Metrics
from aiops.pipeline import Pipeline, build_pipeline

log = logging.getLogger("aiops.consumers")


class BackgroundConsumer:
    def __init__(self, runner: ConsumerRunner) -> None:
        self.runner = runner
        self.thread = threading.Thread(target=runner.run, name="aiops-consumer", daemon=True)

    def stop(self) -> None:
        self.runner.stop()
        self.thread.join(timeout=30)


def start_in_background(settings: Settings, pipeline: Pipeline, metrics: Metrics) -> BackgroundConsumer:
    """``aiops serve --consume``: the same consumer, in a thread beside the API."""
    bg = BackgroundConsumer(ConsumerRunner(settings, pipeline, metrics))
    bg.thread.start()
    return bg


def run_forever(settings: Settings) -> int:
    """``aiops consume``: one group member until SIGTERM/SIGINT; then finish the batch and leave."""
    from prometheus_client import start_http_server

    from aiops.store import open_store

    if not settings.kafka_bootstrap:
        log.error("AIOPS_KAFKA_BOOTSTRAP: not set; there is no broker to consume from")
        return 2
    store = open_store(settings.db)
    metrics = Metrics()
    metrics.watch_open_incidents(store.count_open_incidents)
    pipeline = build_pipeline(settings, store, metrics)
    runner = ConsumerRunner(settings, pipeline, metrics)

    def stop(signum: int, _frame: Any) -> None:
        log.info("signal %d: finishing the batch, committing, leaving the group", signum)
        runner.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    port = settings.metrics_port
    if port:
        start_http_server(port, addr="127.0.0.1", registry=metrics.registry)
    log.info("consuming %s, %s as group %s", settings.topic_metrics, settings.topic_deploys, settings.consumer_group)
    runner.run()
    store.close()
    return 0
