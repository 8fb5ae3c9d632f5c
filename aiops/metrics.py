"""Every Prometheus metric aiops exports, declared once, on a registry passed in (no global REGISTRY).

Labels are few and bounded: outcomes and verdicts are enums, routes are templates (never raw
paths), and services are the fleet's own names.

>>> from prometheus_client import CollectorRegistry
>>> m = Metrics(CollectorRegistry())
>>> m.ingest_records.labels(source="http", outcome="accepted").inc(3)
>>> m.registry.get_sample_value("aiops_ingest_records_total", {"source": "http", "outcome": "accepted"})
3.0
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from aiops.model import Effects


class _OpenIncidents(Collector):
    """Reads open incidents from the store at scrape time, so every API process reports the truth."""

    def __init__(self, count: Callable[[], dict[tuple[str, str], int]]) -> None:
        self._count = count

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "aiops_incidents_open",
            "Incidents not yet resolved, by service and severity",
            labels=["service", "severity"],
        )
        try:
            counts = self._count()
        except Exception:  # a scrape must not fail because the store hiccuped
            counts = {}
        for (service, severity), n in sorted(counts.items()):
            family.add_metric([service, severity], n)
        yield family


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.ingest_records = Counter(
            "aiops_ingest_records", "Records received, by source and outcome", ["source", "outcome"], registry=r
        )
        self.verdicts = Counter("aiops_verdicts", "Final deploy verdicts, by result", ["verdict"], registry=r)
        self.verdict_score = Histogram(
            "aiops_verdict_score",
            "Score of final deploy verdicts (0 worse .. 100 clean)",
            buckets=(10, 20, 40, 60, 80, 90, 100),
            registry=r,
        )
        self.incidents_opened = Counter(
            "aiops_incidents_opened",
            "Incidents opened, by severity and whether a deploy is blamed",
            ["severity", "blamed"],
            registry=r,
        )
        self.anomalies = Counter("aiops_anomalies", "Anomalies recorded, by detector", ["detector"], registry=r)
        self.batch_duration = Histogram(
            "aiops_batch_duration_seconds",
            "Time to parse, analyse and store one batch",
            ["source"],
            registry=r,
            buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.consumer_lag = Gauge(
            "aiops_consumer_lag_records", "Records behind the end of each partition", ["topic", "partition"], registry=r
        )
        self.http_duration = Histogram(
            "aiops_http_request_duration_seconds",
            "HTTP request latency by route template",
            ["method", "route", "status"],
            registry=r,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
        )
        self.dlq_records = Counter("aiops_dlq_records", "Records sent to the dead-letter topic", registry=r)
        self.watermark = Gauge("aiops_event_time_watermark_seconds", "Latest event time processed", registry=r)
        self.notifications = Counter(
            "aiops_notifications",
            "Notification attempts by channel and outcome (sent, retry, failed, skipped)",
            ["channel", "outcome"],
            registry=r,
        )

    def watch_open_incidents(self, count: Callable[[], dict[tuple[str, str], int]]) -> None:
        self.registry.register(_OpenIncidents(count))

    def record_effects(self, effects: Effects) -> None:
        for v in effects.verdicts:
            self.verdicts.labels(verdict=v.verdict.value).inc()
            self.verdict_score.observe(v.score)
        for i in effects.incidents:
            if i.status.value == "open":
                self.incidents_opened.labels(severity=i.severity, blamed=str(i.deployment_id is not None).lower()).inc()
        for a in effects.anomalies:
            self.anomalies.labels(detector=a.detector).inc()
