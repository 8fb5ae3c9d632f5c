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

import time
from collections.abc import Callable, Iterator
from typing import Any

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


class _History(Collector):
    """What the engine's history holds, read at scrape time (``footprint``: aiops.history.FleetHistory)."""

    def __init__(self) -> None:
        self.footprint: Callable[[], tuple[int, int, int]] | None = None

    def collect(self) -> Iterator[GaugeMetricFamily]:
        if self.footprint is None:
            return
        series, samples, size = self.footprint()
        for name, text, value in (
            ("aiops_history_series", "Series held by the engine", series),
            ("aiops_history_samples", "Samples held (older than the look-back: one a minute)", samples),
            ("aiops_history_bytes", "Bytes the held samples take", size),
        ):
            yield GaugeMetricFamily(name, text, value=float(value))


# (name, help, how to read it from a team's measures, aiops/delivery.py)
_DELIVERY_GAUGES: tuple[tuple[str, str, Callable[[dict[str, Any]], float | None]], ...] = (
    ("aiops_delivery_deployments", "Production deploys", lambda m: m["deployment_frequency"]["deployments"]),
    ("aiops_delivery_rollbacks", "Rollbacks", lambda m: m["deployment_frequency"]["rollbacks"]),
    (
        "aiops_delivery_change_failure_ratio",
        "Share of deploys that failed their verdict, were rolled back or had an incident blamed on them",
        lambda m: m["change_failure_rate"]["rate"],
    ),
    (
        "aiops_delivery_excluded_false_positives",
        "Deploys kept out of the change-failure rate by false-positive feedback",
        lambda m: m["change_failure_rate"]["excluded_false_positives"],
    ),
    ("aiops_delivery_lead_time_seconds", "Median commit-to-deploy time", lambda m: m["lead_time"]["median_seconds"]),
    (
        "aiops_delivery_time_to_restore_seconds",
        "Median time from a failed deploy's incident (or failed verdict) to its resolution or rollback",
        lambda m: m["time_to_restore"]["median_seconds"],
    ),
    (
        "aiops_delivery_time_to_verdict_seconds",
        "Median time from a deploy to its final verdict",
        lambda m: m["time_to_verdict"]["median_seconds"],
    ),
)
DELIVERY_WINDOW_S = 30 * 86400.0


class _Delivery(Collector):
    """Delivery measures per team over the last 30 days (wall clock), read from the store at scrape
    time (one SQL query). Team "none": deploys of services with no team."""

    def __init__(self) -> None:
        self.measure: Callable[[float, float], dict[str, dict[str, Any]]] | None = None
        self.clock: Callable[[], float] = time.time

    def collect(self) -> Iterator[GaugeMetricFamily]:
        families = [
            GaugeMetricFamily(name, f"{text}, last 30 days, by team", labels=["team"])
            for name, text, _ in _DELIVERY_GAUGES
        ]
        teams: dict[str, dict[str, Any]] = {}
        if self.measure is not None:
            now = self.clock()
            try:
                teams = self.measure(now - DELIVERY_WINDOW_S, now)
            except Exception:  # a scrape must not fail because the store hiccuped
                teams = {}
        for team, m in sorted(teams.items()):
            for family, (_, _, read) in zip(families, _DELIVERY_GAUGES, strict=True):
                value = read(m)
                if value is not None:
                    family.add_metric([team or "none"], float(value))
        yield from families


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
        # What a consumer process decodes: its own partitions, other members' raw partitions (the
        # peer view without rollups), or their published rollups; and the rollups it publishes.
        self.consumer_read = Counter(
            "aiops_consumer_read_messages", "Kafka messages decoded, by what they are", ["kind"], registry=r
        )
        self.consumer_read_bytes = Counter(
            "aiops_consumer_read_bytes", "Bytes of Kafka message values decoded, by what they are", ["kind"], registry=r
        )
        self.watermark = Gauge("aiops_event_time_watermark_seconds", "Latest event time processed", registry=r)
        self.notifications = Counter(
            "aiops_notifications",
            "Notification attempts by channel and outcome (sent, retry, failed, skipped)",
            ["channel", "outcome"],
            registry=r,
        )
        self._delivery = _Delivery()
        r.register(self._delivery)
        self._history = _History()
        r.register(self._history)

    def watch_history(self, footprint: Callable[[], tuple[int, int, int]]) -> None:
        """Export (series, samples, bytes) held as gauges; the last pipeline to call this is the one read."""
        self._history.footprint = footprint

    def watch_open_incidents(self, count: Callable[[], dict[tuple[str, str], int]]) -> None:
        self.registry.register(_OpenIncidents(count))

    def watch_delivery(
        self, measure: Callable[[float, float], dict[str, dict[str, Any]]], clock: Callable[[], float] = time.time
    ) -> None:
        """Export each team's delivery measures (``measure(start, end)``: aiops.delivery.team_measures)
        over the 30 days before ``clock()``."""
        self._delivery.measure = measure
        self._delivery.clock = clock

    def record_effects(self, effects: Effects) -> None:
        for v in effects.verdicts:
            self.verdicts.labels(verdict=v.verdict.value).inc()
            self.verdict_score.observe(v.score)
        for i in effects.incidents:
            if i.status.value == "open":
                self.incidents_opened.labels(severity=i.severity, blamed=str(i.deployment_id is not None).lower()).inc()
        for a in effects.anomalies:
            self.anomalies.labels(detector=a.detector).inc()
