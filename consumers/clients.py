"""The kafka-python clients a consumer process uses, configured in one place; and its one topic.

Four clients, because each has one job and must not wait behind another's: the group member
(owned partitions, commits), the peer view (other members' partitions, group-less, never commits),
the lister (end offsets only, on its own connection: behind a reading consumer's in-flight fetch a
listing waits tens of milliseconds) and the producer (dead letters).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from typing import Any

from aiops.config import Settings

log = logging.getLogger("aiops.consumers")


def kafka_client_options(settings: Settings) -> dict[str, Any]:
    """Bootstrap plus pass-through security settings (AIOPS_KAFKA_SECURITY_PROTOCOL, _SASL_*, _SSL_*)."""
    options: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap.split(",") if settings.kafka_bootstrap else []
    }
    options.update(settings.kafka_security)  # e.g. security_protocol, sasl_mechanism, ssl_cafile
    return options


def listener(on_assigned: Callable[[], None], on_revoked: Callable[[], None] = lambda: None) -> Any:
    """A rebalance listener. Callbacks must not block: they only flag the rebuild the poll loop does."""
    from kafka.consumer.subscription_state import ConsumerRebalanceListener

    class Listener(ConsumerRebalanceListener):  # type: ignore[misc]
        def on_partitions_revoked(self, revoked: Any) -> None:
            log.info("partitions revoked: %s", sorted(f"{tp.topic}[{tp.partition}]" for tp in revoked))
            on_revoked()

        def on_partitions_assigned(self, assigned: Any) -> None:
            log.info("partitions assigned: %s", sorted(f"{tp.topic}[{tp.partition}]" for tp in assigned))
            on_assigned()

    return Listener()


def group_consumer(settings: Settings, max_poll_records: int, rebalance_listener: Any) -> Any:
    """The group member: range assignor (partition i of both topics to one member), manual commits."""
    from kafka import KafkaConsumer
    from kafka.coordinator.assignors.range import RangePartitionAssignor

    consumer = KafkaConsumer(
        group_id=settings.consumer_group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        partition_assignment_strategy=(RangePartitionAssignor,),
        max_poll_records=max_poll_records,
        # Catching up on lag: fewer, larger fetches. Memory stays bounded by fetch_max_bytes.
        max_partition_fetch_bytes=8 << 20,
        fetch_max_bytes=48 << 20,
        max_poll_interval_ms=300_000,
        session_timeout_ms=10_000,
        heartbeat_interval_ms=3_000,
        reconnect_backoff_max_ms=5_000,
        # A subscribed topic that does not exist yet (auto-created by its first event, e.g. the first
        # deploy) is only seen at the next metadata refresh: 30 s, not the client's default 5 minutes.
        metadata_max_age_ms=30_000,
        client_id=f"aiops-{threading.get_ident()}",
        **kafka_client_options(settings),
    )
    topics = [settings.topic_metrics, settings.topic_deploys]
    # Learn the topics' partitions before joining. Subscribed cold, the first join's assignment
    # runs on metadata that lists no topic yet, so this member is assigned nothing and depends
    # on the client noticing the metadata change to join again (kafka-python 3.0.12). Two CI runs
    # that started this way never caught up; that the second join never came is inferred.
    for topic in topics:
        with contextlib.suppress(Exception):  # a topic not there yet is auto-created, as before
            consumer.partitions_for_topic(topic)
    consumer.subscribe(topics, listener=rebalance_listener)
    return consumer


def peer_consumer(settings: Settings, max_poll_records: int) -> Any:
    """Reads, outside the group and without committing, the partitions other members own."""
    from kafka import KafkaConsumer

    return KafkaConsumer(
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=max_poll_records,
        reconnect_backoff_max_ms=5_000,
        client_id=f"aiops-peers-{threading.get_ident()}",
        **kafka_client_options(settings),
    )


def lister(settings: Settings) -> Any:
    """Lists end offsets only: no group, no assignment, never fetches."""
    from kafka import KafkaConsumer

    return KafkaConsumer(
        group_id=None,
        enable_auto_commit=False,
        client_id=f"aiops-offsets-{threading.get_ident()}",
        **kafka_client_options(settings),
    )


def producer(settings: Settings) -> Any:
    """For dead letters and rollups: acknowledged by every in-sync replica before the offset moves past them."""
    from kafka import KafkaProducer

    # gzip: the rollups (consumers/rollups.py) name the same services and metrics every minute, and
    # compressed in batches they are a small part of the raw volume; dead letters are rare.
    # Batches of up to 512 KiB: a publication of many minutes is compressed as one (16 KiB by default).
    return KafkaProducer(
        acks="all",
        linger_ms=5,
        retries=10,
        compression_type="gzip",
        batch_size=512 << 10,
        **kafka_client_options(settings),
    )


# Compacted: the latest copy of each (partition, minute) is the one to keep. Not deleted by time: the
# minutes are stamped with their event time (a rebuild seeks them by it), and a replay of older
# history into Kafka would lose its rollups before they are read. docs/kafka.md says how to add a
# retention where event time is the wall clock's.
ROLLUPS_TOPIC_CONFIG = {"cleanup.policy": "compact"}


def ensure_rollups_topic(settings: Settings, partitions: int) -> str:
    """Create the rollups topic (consumers/rollups.py) with ``partitions`` partitions, one per metrics
    partition, compacted: each minute is keyed by partition and minute, and the latest copy of it
    is the one to keep. An existing topic with fewer partitions gets more; any other config a
    person set on it is left alone. Returns what it did, in words."""
    from kafka.admin import KafkaAdminClient, NewPartitions, NewTopic
    from kafka.errors import TopicAlreadyExistsError

    name = settings.topic_rollups
    admin = KafkaAdminClient(client_id=f"aiops-admin-{threading.get_ident()}", **kafka_client_options(settings))
    try:
        try:
            topic = NewTopic(name, partitions, -1, topic_configs=ROLLUPS_TOPIC_CONFIG)
            admin.create_topics([topic], wait_for_metadata=True)
            log.info("created topic %s: %d partitions, compacted", name, partitions)
            return f"created, {partitions} partitions, compacted"
        except TopicAlreadyExistsError:
            described = admin.describe_topics([name])
            have = len(described[0]["partitions"]) if described else partitions
            if have >= partitions:
                return f"exists, {have} partitions"
            admin.create_partitions({name: NewPartitions(partitions)})
            log.info("topic %s: %d partitions -> %d, one per metrics partition", name, have, partitions)
            return f"exists, {have} -> {partitions} partitions"
    finally:
        admin.close()


def create_topics(settings: Settings, partitions: int) -> dict[str, str]:
    """Create the metrics, deploys and dead-letter topics with ``partitions`` partitions each, and the
    rollups topic beside them (:func:`ensure_rollups_topic`); what became of each (``aiops topics``).
    Topics that exist are left as they are: the metrics and deploys topics must keep their partition
    count (a service's records stay in one partition, co-partitioned across the two)."""
    from kafka.admin import KafkaAdminClient, NewTopic
    from kafka.errors import TopicAlreadyExistsError

    admin = KafkaAdminClient(client_id=f"aiops-admin-{threading.get_ident()}", **kafka_client_options(settings))
    states: dict[str, str] = {}
    try:
        for name in (settings.topic_metrics, settings.topic_deploys, settings.topic_dlq):
            try:
                admin.create_topics([NewTopic(name, partitions, -1)], wait_for_metadata=True)
                states[name] = f"created, {partitions} partitions"
            except TopicAlreadyExistsError:
                states[name] = "exists, left as it is"
        described = admin.describe_topics([settings.topic_metrics])
        have = len(described[0]["partitions"]) if described else partitions
    finally:
        admin.close()
    states[settings.topic_rollups] = ensure_rollups_topic(settings, have)
    return states
