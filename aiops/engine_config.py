"""The engine's settings: its windows in event-time seconds and in bins, and what it checks.

Which judges it asks is no part of them: the engine is handed its judges (``aiops.pipeline.build_engine``
makes them from ``Settings.judge`` and ``Settings.service_judge``).

A module of its own, apart from the engine, so that reading the configuration (``aiops gate`` in a
CI step, ``aiops.config``) does not load numpy, scipy and scikit-learn.

>>> EngineConfig(analysis_window=600).windows(300.0)
(12, 8, 72)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from aiops.model import Direction

DAY = 86_400.0


@dataclass(frozen=True, slots=True)
class EngineConfig:
    """Windows are in event-time seconds."""

    baseline_window: float = 3600.0  # what "before" means
    analysis_window: float = 1800.0  # a pass waits this long after the deploy
    step: float = 60.0  # how often an open analysis is looked at
    lateness: float = 60.0  # how long to wait for out-of-order samples before a look
    seasonal_days: int = 2  # earlier days compared at the same time of day (0: off)
    # How far back the counterfactual is fitted and its placebo spread measured: hours, so that a
    # daily ramp, autocorrelated wander and peers' tracking all show in it.
    history_window: float = 6 * 3600.0
    # Windows stretch to hold at least this many bins (a bin: a minute, or one sample of a slower
    # metric), so 5-minute metrics get windows that can decide something without configuration.
    min_baseline_bins: int = 12
    min_analysis_bins: int = 8
    min_history_bins: int = 72
    fleet_check: bool = True
    recovery_horizon: float = 6 * 3600.0  # how long an incident is watched for its metrics to come back
    # How often a watched incident is checked: an auto-resolve a few minutes late costs nobody
    # anything, and each check judges every failed metric against the fleet again.
    recovery_step: float = 300.0
    directions: dict[str, Direction] = field(default_factory=dict)

    @property
    def retention(self) -> float:
        return self.seasonal_days * DAY + self.lookback_window + self.analysis_window + 2 * self.step

    @property
    def lookback_window(self) -> float:
        """How far before a deploy its own history is read (the seasonal days come on top)."""
        return max(self.history_window, self.baseline_window + 4 * self.analysis_window)

    @property
    def raw_window(self) -> float:
        """How far before a deploy still looked at its samples are kept raw (``Engine._trim``): its own
        look-back, and a margin for a deploy yet to come (late by up to the lateness) and the next
        look. The earlier days before that are read only in bins of a minute or more, and kept one
        sample a minute (``aiops.history.SeriesHistory.compact``).

        >>> EngineConfig().raw_window / 3600
        6.033333333333333
        """
        return self.lookback_window + max(2 * self.step, self.lateness)

    def windows(self, width: float) -> tuple[int, int, int]:
        """(baseline, analysis, history) in bins of ``width`` seconds, each stretched to its minimum.

        >>> EngineConfig().windows(60.0), EngineConfig().windows(300.0)
        ((60, 30, 360), (12, 8, 72))
        """
        baseline = max(self.min_baseline_bins, math.ceil(self.baseline_window / width - 1e-9))
        analysis = max(self.min_analysis_bins, math.ceil(self.analysis_window / width - 1e-9))
        # Room for placebo windows beside the baseline: a long baseline must not leave none.
        history = max(self.min_history_bins, math.ceil(self.history_window / width - 1e-9), baseline + 4 * analysis)
        return baseline, analysis, history
