"""The pipeline every entry point shares: bytes -> parse -> engine (event time) -> store.

HTTP ingest, the Kafka consumers and replay all call :class:`Pipeline`, so a record is treated the
same whichever way it came in. One lock serialises the engine (it is single-threaded by design);
the store write happens before ``ingest`` returns, so a caller that commits offsets afterwards never
commits what is not durable. Every entry point builds it with :func:`build_pipeline`, so the
settings mean the same to each.

>>> from aiops.config import Settings
>>> pipeline = build_pipeline(Settings.from_env({"AIOPS_JUDGE": "kayenta"}), store=None)
>>> pipeline.engine.judge.name, pipeline.engine.service_judge, pipeline.store is None
('kayenta', None, True)
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from aiops.config import Settings
from aiops.detectors.registry import make_judge, make_service_judge
from aiops.engine import Engine, KnownDeploy
from aiops.metrics import Metrics
from aiops.model import ChangeEvent, Effects, Record
from aiops.parsing import ParseResult, Rejection
from aiops.rollups import PeerMinutes
from aiops.store.base import Store


@dataclass(slots=True)
class IngestResult:
    accepted: int = 0
    skipped: int = 0
    rejections: list[Rejection] = field(default_factory=list)
    effects: Effects = field(default_factory=Effects)


class Pipeline:
    def __init__(self, engine: Engine, store: Store | None, metrics: Metrics | None = None) -> None:
        self.engine = engine
        self.store = store
        self.metrics = metrics
        if metrics is not None:
            metrics.watch_history(lambda: self.engine.history.footprint())  # the engine may be replaced
        self._lock = threading.Lock()
        # What the engine emitted that the store did not take (it was down, locked or full). The
        # engine never emits an effect twice, so it is kept here and written before anything
        # newer; a consumer commits no offset while this is not empty.
        self._unwritten = Effects()

    @property
    def has_unwritten(self) -> bool:
        return bool(self._unwritten)

    def _write(self, effects: Effects) -> None:
        """Store ``effects`` after whatever is still unwritten, in one transaction; keep both on failure."""
        if self.store is None:
            return
        if self._unwritten:
            pending = Effects()
            pending.extend(self._unwritten)
            pending.extend(effects)  # later verdicts and incident states overwrite earlier ones
        else:
            pending = effects
        if not pending:
            return
        try:
            self.store.write(pending)
        except BaseException:
            self._unwritten = pending
            raise
        self._unwritten = Effects()

    def write_unwritten(self) -> None:
        """Try again to store what an earlier failure left; raises as the store does."""
        with self._lock:
            self._write(Effects())

    def set_horizon_limit(self, limit: float | None) -> None:
        """How far in event time the engine may look: a consumer's low watermark, set under the
        lock so it never changes in the middle of a batch (the API's thread shares the engine)."""
        with self._lock:
            self.engine.horizon_limit = limit

    def ingest(self, parsed: ParseResult, source: str) -> IngestResult:
        """Run parsed records through the engine and make their effects durable."""
        return self.ingest_records(parsed.records, parsed.rejections, parsed.skipped, source, changes=parsed.changes)

    def ingest_records(
        self,
        records: Sequence[Record | KnownDeploy | PeerMinutes],
        rejections: Sequence[Rejection] = (),
        skipped: int = 0,
        source: str = "api",
        accepted: int | None = None,
        changes: Sequence[ChangeEvent] = (),
    ) -> IngestResult:
        """``accepted``: how many of ``records`` are new input (a consumer's batch also holds records
        read again after a handoff and other members' records, for state only). ``changes`` (CDEvents
        change.merged) are stored with the batch's effects; the engine has no use for them."""
        started = time.perf_counter()
        with self._lock:
            if self._unwritten:
                # The store refused earlier effects: take no new records until it has those, so a
                # caller told "503, retry" was not half-served (its records in the engine twice
                # after the retry), and nothing piles up in memory while the store is away.
                self._write(Effects())
            effects = self.engine.process(records)
            effects.changes.extend(changes)
            self._write(effects)
        n = (len(records) + len(changes)) if accepted is None else accepted
        self._count(source, n, len(rejections), skipped, effects, started)
        return IngestResult(n, skipped, list(rejections), effects)

    def replace_engine(self, engine: Engine) -> None:
        """Start over with a fresh engine (a consumer rebuilding its state after a rebalance).

        Unwritten effects are dropped with the old engine: their records were never committed, so
        the rebuilt engine reads them again and emits the same effects.
        """
        with self._lock:
            engine.calibration = dict(self.engine.calibration)
            self.engine = engine
            self._unwritten = Effects()

    def refresh_calibration(self) -> dict[tuple[str, str], float]:
        """Reload the feedback-learnt bars from the store into the engine (after feedback, at start)."""
        if self.store is None:
            return {}
        from aiops.calibration import calibrate

        bars = calibrate(self.store.list_feedback())
        with self._lock:
            self.engine.calibration = bars
        return bars

    def advance(self, source: str) -> Effects:
        """Looks that came due without new records (a consumer's partitions went idle)."""
        started = time.perf_counter()
        with self._lock:
            effects = self.engine.advance()
            if effects or self._unwritten:
                self._write(effects)
        if effects:
            self._count(source, 0, 0, 0, effects, started)
        return effects

    def finish(self) -> Effects:
        with self._lock:
            effects = self.engine.finish()
            self._write(effects)
        if self.metrics:
            self.metrics.record_effects(effects)
        return effects

    def _count(self, source: str, accepted: int, rejected: int, skipped: int, effects: Effects, started: float) -> None:
        m = self.metrics
        if m is None:
            return
        for outcome, n in (("accepted", accepted), ("rejected", rejected), ("skipped", skipped)):
            if n:
                m.ingest_records.labels(source=source, outcome=outcome).inc(n)
        m.record_effects(effects)
        if self.engine.watermark > 0:
            m.watermark.set(self.engine.watermark)
        m.batch_duration.labels(source=source).observe(time.perf_counter() - started)


def build_engine(settings: Settings, calibration: Mapping[tuple[str, str], float] | None = None) -> Engine:
    """The engine ``settings`` describe: their windows and the judges they name, made from
    :mod:`aiops.detectors.registry` (``AIOPS_JUDGE``; ``AIOPS_SERVICE_JUDGE`` or ``AIOPS_MULTIVARIATE``).
    ``calibration``: the feedback-learnt bars to start with (a consumer rebuilding its engine keeps
    those it had; others load them from the store).

    >>> build_engine(Settings.from_env({"AIOPS_MULTIVARIATE": "on"})).service_judge.name
    'isolation_forest'
    """
    service_judge = make_service_judge(settings.service_judge) if settings.service_judge else None
    return Engine(settings.engine, make_judge(settings.judge), service_judge, calibration=dict(calibration or {}))


def build_pipeline(settings: Settings, store: Store | None, metrics: Metrics | None = None) -> Pipeline:
    """The pipeline of one process: a fresh engine from ``settings`` in front of ``store``.

    Calibration is not loaded here: the API and the consumers call
    :meth:`Pipeline.refresh_calibration` when they start, and a replay judges as the defaults do.
    """
    return Pipeline(build_engine(settings), store, metrics)
