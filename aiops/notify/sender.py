"""The sender: delivers the outbox to each channel in order, with retries, back-off and idempotency keys.

Guarantees, and how:
- nothing lost: a message is marked done for a channel only after the receiver answered 2xx, in
  the store, so a crash or a restart resends whatever was not marked;
- nothing doubled for a receiver that honours ``Idempotency-Key``: the key is the message id, the
  same on every retry and after a restart (only the one request in flight at a crash is repeated);
- in order: each channel sends its oldest pending message first and does not pass a message
  that failed for a retryable reason (connection refused, timeout, 408, 425, 429, 5xx); it retries
  it with exponential back-off (1 s doubling to ``max_backoff_s``, with jitter) for as long as it
  takes, so a receiver down for minutes gets everything afterwards, in order;
- a message a receiver refuses outright (other 4xx) three times is marked ``failed`` and logged,
  so one bad payload cannot stop a channel forever;
- one active sender across replicas: each loop renews a lease row in the store
  (``leases``, ``notify-sender``); replicas without it wait, and take over when it expires.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import httpx

from aiops.metrics import Metrics
from aiops.model import Incident, IncidentStatus
from aiops.notify.channels import AlertmanagerChannel, Channel, Outgoing, configured
from aiops.notify.settings import NotifySettings
from aiops.store.base import DeploymentRow, IncidentFilter, Page
from aiops.store.outbox import LEASE_SENDER, OutboxMessage

log = logging.getLogger("aiops.notify")
REFUSALS_BEFORE_FAILED = 3
REFRESH_ALERTS_S = 60.0
RETRYABLE = {408, 425, 429}
LATE_COMMIT_S = 3600.0


class OutboxStore(Protocol):
    """What the sender needs of the store (SqlStore has it; see aiops/store/outbox.py)."""

    def outbox_pending(self, channel: str, *, limit: int = 100, now: float) -> list[OutboxMessage]: ...

    def outbox_mark(
        self, channel: str, message_id: str, status: str, attempts: int, detail: str, at: float
    ) -> None: ...

    def outbox_advance(self, channel: str, before: float) -> None: ...

    def acquire_lease(self, name: str, holder: str, ttl: float, now: float) -> bool: ...

    def release_lease(self, name: str, holder: str) -> None: ...

    def list_incidents(
        self, filt: IncidentFilter, *, limit: int = 100, cursor: str | None = None
    ) -> Page[Incident]: ...

    def get_deployment(self, deployment_id: str) -> DeploymentRow | None: ...

    def close(self) -> None: ...


@dataclass(slots=True)
class _Head:
    """The message a channel is stuck on, how often it was tried, and when to try again."""

    message_id: str = ""
    attempts: int = 0
    next_at: float = 0.0


@dataclass(frozen=True, slots=True)
class Outcome:
    ok: bool
    retryable: bool
    detail: str


def backoff(attempts: int, cap: float, rand: Callable[[], float] = random.random) -> float:
    """Seconds before try ``attempts + 1``: 1, 2, 4 ... up to ``cap``, times a jitter in [0.5, 1].

    >>> [backoff(n, 60.0, lambda: 1.0) for n in (1, 2, 3, 10)]
    [1.0, 2.0, 4.0, 60.0]
    """
    return float(min(cap, 2.0 ** (attempts - 1)) * (0.5 + 0.5 * rand()))


class Sender:
    def __init__(
        self,
        store: OutboxStore,
        channels: Sequence[Channel],
        settings: NotifySettings,
        *,
        client: httpx.Client | None = None,
        clock: Callable[[], float] = time.time,
        holder: str | None = None,
        owns_store: bool = False,
        metrics: Metrics | None = None,
    ) -> None:
        self.store = store
        self.owns_store = owns_store
        self.metrics = metrics
        self.channels = list(channels)
        self.settings = settings
        self.client = client or httpx.Client(timeout=settings.timeout_s)
        self.clock = clock
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._heads = {c.name: _Head() for c in self.channels}
        self._lease_until = 0.0
        self._next_refresh = 0.0
        self._advance_at: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- lease -----------------------------------------------------------------------------------

    def holding(self) -> bool:
        """Renew the lease when a third of it is gone; True while this sender may send."""
        now = self.clock()
        ttl = self.settings.lease_s
        if self._lease_until - now < ttl * 2 / 3:
            self._lease_until = now + ttl if self.store.acquire_lease(LEASE_SENDER, self.holder, ttl, now) else 0.0
        return self._lease_until > self.clock()

    # --- one pass --------------------------------------------------------------------------------

    def _count(self, channel: str, outcome: str) -> None:
        if self.metrics is not None:
            self.metrics.notifications.labels(channel=channel, outcome=outcome).inc()

    def _post(self, out: Outgoing) -> Outcome:
        try:
            reply = self.client.post(out.url, content=out.body, headers=out.headers)
        except httpx.HTTPError as exc:
            return Outcome(False, True, f"{type(exc).__name__}: {exc}"[:300])
        if 200 <= reply.status_code < 300:
            return Outcome(True, False, str(reply.status_code))
        retry = reply.status_code >= 500 or reply.status_code in RETRYABLE
        return Outcome(False, retry, f"HTTP {reply.status_code}: {reply.text[:200]}")

    def drain(self, channel: Channel) -> int:
        """Send ``channel``'s pending messages in order until done, blocked, or the lease is lost."""
        head = self._heads[channel.name]
        now = self.clock()
        if head.next_at > now:
            return 0
        pending = self.store.outbox_pending(channel.name, limit=100, now=now)
        if not pending:
            # Everything older is done: later scans need not look further back than the slowest
            # writer's transaction could commit late (an hour, generously: a message is stamped
            # when its transaction runs, not when it commits). Once a minute: on SQLite a write.
            if now >= self._advance_at.get(channel.name, 0.0):
                self.store.outbox_advance(channel.name, now - LATE_COMMIT_S)
                self._advance_at[channel.name] = now + 60.0
            return 0
        sent = 0
        for msg in pending:
            if self._stop.is_set() or not self.holding():
                break
            handles = not isinstance(channel, AlertmanagerChannel) or channel.handles(msg)
            if not handles or not channel.route.wants(msg.service, msg.severity):
                self.store.outbox_mark(channel.name, msg.id, "skipped", 0, "not routed here", self.clock())
                self._count(channel.name, "skipped")
                continue
            if head.message_id != msg.id:
                head.message_id, head.attempts = msg.id, 0
            head.attempts += 1
            outcome = self._post(channel.request(msg, self.clock()))
            if outcome.ok:
                self.store.outbox_mark(channel.name, msg.id, "sent", head.attempts, outcome.detail, self.clock())
                head.message_id, head.attempts, head.next_at = "", 0, 0.0
                sent += 1
                self._count(channel.name, "sent")
                continue
            if not outcome.retryable and head.attempts >= REFUSALS_BEFORE_FAILED:
                log.error(
                    "notify %s: %s refused %d times, giving up: %s", channel.name, msg.id, head.attempts, outcome.detail
                )
                self.store.outbox_mark(channel.name, msg.id, "failed", head.attempts, outcome.detail, self.clock())
                head.message_id, head.attempts, head.next_at = "", 0, 0.0
                self._count(channel.name, "failed")
                continue
            self._count(channel.name, "retry")
            delay = backoff(head.attempts, self.settings.max_backoff_s)
            head.next_at = self.clock() + delay
            log.warning(
                "notify %s: %s attempt %d failed (%s); retrying in %.1f s",
                channel.name,
                msg.id,
                head.attempts,
                outcome.detail,
                delay,
            )
            break
        return sent

    def refresh_alerts(self) -> None:
        """Keep open incidents firing in Alertmanager (see AlertmanagerChannel)."""
        now = self.clock()
        if now < self._next_refresh:
            return
        self._next_refresh = now + REFRESH_ALERTS_S
        for channel in self.channels:
            if not isinstance(channel, AlertmanagerChannel):
                continue
            incidents = [
                inc
                for status in (IncidentStatus.OPEN, IncidentStatus.ACKNOWLEDGED)
                for inc in self.store.list_incidents(IncidentFilter(status=status), limit=500).items
            ]
            versions = {}
            for inc in incidents:
                if inc.deployment_id and inc.deployment_id not in versions:
                    row = self.store.get_deployment(inc.deployment_id)
                    versions[inc.deployment_id] = row.deploy.version if row else ""
            out = channel.refresh(incidents, versions)
            if out is not None:
                outcome = self._post(out)
                if not outcome.ok:
                    log.warning("notify alertmanager: refreshing open incidents failed: %s", outcome.detail)

    def run_once(self) -> int:
        """One pass over every channel; the number of messages sent."""
        if not self.holding():
            return 0
        sent = sum(self.drain(channel) for channel in self.channels)
        self.refresh_alerts()
        return sent

    # --- the thread ------------------------------------------------------------------------------

    def run_forever(self) -> None:
        log.info("notify: sender %s for %s", self.holder, ", ".join(c.name for c in self.channels))
        while not self._stop.is_set():
            try:
                busy = self.run_once() > 0
            except Exception:  # a store hiccup must not kill notifications for the process's life
                log.exception("notify: sender pass failed; trying again")
                busy = False
            if not busy:
                self._stop.wait(self.settings.poll_s)

    def start(self) -> Sender:
        self._thread = threading.Thread(target=self.run_forever, name="aiops-notify", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        try:
            self.store.release_lease(LEASE_SENDER, self.holder)
        except Exception:
            log.warning("notify: could not release the sender lease (it expires by itself)")
        self.client.close()
        if self.owns_store:
            self.store.close()


def start_sender(db_url: str, env: dict[str, str] | None = None, metrics: Metrics | None = None) -> Sender | None:
    """Start a sender on its own store connection when a channel is configured (aiops serve, consume);
    None when the environment names no channel. ``stop()`` it on the way out."""
    settings = NotifySettings.from_env(env)
    channels = configured(settings)
    if not channels:
        return None
    from aiops.store import open_store

    return Sender(open_store(db_url), channels, settings, owns_store=True, metrics=metrics).start()
