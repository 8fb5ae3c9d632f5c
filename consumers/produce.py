"""Put events on the topics the consumers read: deploys and metrics apart, keyed by service.

Keys by service keep a service's records in one partition (in order, co-partitioned across the two
topics); the message timestamp is the event time, which the consumers' warm-up seeks by. Each
deploy is flushed before the events after it are sent, so the order across the two topics holds on
the broker even when a day of history is replayed in seconds.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from aiops.config import Settings
from aiops.consumers.clients import kafka_client_options
from aiops.parsing import parse_record


def route(event: dict[str, Any], settings: Settings) -> tuple[str, str | None, float | None]:
    """(topic, key, event time) for one decoded event; unparseable ones go to the metrics topic."""
    try:
        record = parse_record(event, settings.service_labels)
    except Exception:
        return settings.topic_metrics, None, None
    topic = settings.topic_metrics if type(record).__name__ == "MetricSample" else settings.topic_deploys
    return topic, record.service, record.ts


def produce_events(events: Iterable[dict[str, Any] | bytes], settings: Settings, producer: Any = None) -> int:
    """Send each event (a decoded object, or raw bytes sent as they are) and flush; returns the count."""
    from kafka import KafkaProducer

    own = producer is None
    producer = producer or KafkaProducer(
        acks="all", linger_ms=20, batch_size=256 * 1024, **kafka_client_options(settings)
    )
    n = 0
    for event in events:
        if isinstance(event, bytes):
            producer.send(settings.topic_metrics, value=event)
        else:
            topic, key, ts = route(event, settings)
            producer.send(
                topic,
                value=json.dumps(event, separators=(",", ":")).encode(),
                key=key.encode() if key else None,
                timestamp_ms=int(ts * 1000) if ts is not None else None,
            )
            if topic == settings.topic_deploys:
                # A deploy is on the broker before any later sample is sent: the two topics are
                # batched apart, and a consumer must not read past a deploy it cannot see yet.
                producer.flush(timeout=120)
        n += 1
    producer.flush(timeout=120)
    if own:
        producer.close()
    return n
