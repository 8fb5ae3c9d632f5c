"""What the judges see: one metric of one deploy at one look, read from the fleet's history.

The engine decides *when* to look and what the answers add up to; this module gathers what each
look is judged on: the samples before and after the deploy, the same hours on earlier days, the
peers' move over the same windows, and the counterfactual (what the metric would have done without
the deploy), fitted once per deploy from the history before it and kept until the deploy is
released. It also draws the series around a deploy for an incident's plot, beside what was expected.

>>> from aiops.correlation import FleetCheck
>>> from aiops.history import FleetHistory
>>> history = FleetHistory()
>>> for t in range(0, 8 * 3600, 30):
...     history.add_sample("api", "latency_ms", float(t), 100.0 + t % 7)
>>> evidence = Evidence(EngineConfig(), history, FleetCheck(history, 3600.0, lambda *peer: None), 600.0)
>>> data = evidence.judge_input("api", "latency_ms", 7 * 3600.0, 7 * 3600.0 + 600, final=False)
>>> len(data.baseline), len(data.current), data.counterfactual.width
(120, 21, 60.0)
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Container, Iterable

import numpy as np

from aiops.correlation import FleetCheck
from aiops.detectors.base import FloatArray, JudgeInput
from aiops.detectors.counterfactual import (
    CounterfactualFit,
    bin_means,
    bin_width,
    fit_counterfactual,
    sampling_interval,
)
from aiops.direction import metric_direction
from aiops.engine_config import DAY, EngineConfig
from aiops.history import FleetHistory
from aiops.model import EXPECTED_SUFFIX, DeployEvent
from aiops.rollups import MINUTE, grid_ceil

# One metric thinned for a plot: (name, times, values).
Series = tuple[str, tuple[float, ...], tuple[float, ...]]


def _bin_means_each(
    windows: list[tuple[FloatArray, FloatArray]], origin: float, width: float, m: int
) -> list[FloatArray]:
    """``bin_means(ts, values, origin, width, 0, m)`` of each window, in one pass over them all: a
    look asks for every tracking peer's bins, and numpy's per-call cost is most of a small one.
    The same arrays: each peer's samples land in its own row, summed in their order, as alone.

    >>> w = [(np.array([0.0, 10.0, 70.0]), np.array([1.0, 3.0, 5.0])), (np.array([130.0]), np.array([4.0]))]
    >>> [b.tolist() for b in _bin_means_each(w, 0.0, 60.0, 3)]
    [[2.0, 5.0, nan], [nan, nan, 4.0]]
    """
    if m <= 0 or len(windows) < 2:
        return [bin_means(ts, values, origin, width, 0, m) for ts, values in windows]
    ts = np.concatenate([w[0] for w in windows])
    values = np.concatenate([w[1] for w in windows])
    row = np.repeat(np.arange(len(windows)), [len(w[0]) for w in windows])
    idx = np.floor((ts - origin) / width).astype(np.int64)
    keep = (idx >= 0) & (idx < m)
    cell = idx[keep] + row[keep] * m
    size = m * len(windows)
    sums = np.bincount(cell, weights=values[keep], minlength=size)
    counts = np.bincount(cell, minlength=size)
    with np.errstate(invalid="ignore"):  # an empty bin: 0/0, the NaN bin_means gives it
        means = np.asarray(sums / counts, dtype=np.float64).reshape(len(windows), m)
    return list(means)


class Evidence:
    """Builds the :class:`JudgeInput` of each look; keeps each deploy's counterfactual fits until released.

    ``recent_window``: the span at the end of the window the metric judge also judges on its own
    (``MetricJudge.recent_window``); the peers' move over that span is given it as ``control_recent``.
    """

    def __init__(
        self,
        config: EngineConfig,
        history: FleetHistory,
        fleet: FleetCheck,
        recent_window: float,
        peers_view: FleetHistory | None = None,
    ) -> None:
        self.config = config
        self.history = history
        # Where the peers are read (the fleet's rollups, aiops.rollups); the history itself without.
        self.peers_view = peers_view if peers_view is not None else history
        self._fleet = fleet
        self._recent_window = recent_window
        # (service, deploy time) -> (metric, with peers?, read as a peer?) -> the counterfactual
        # fitted at the first look.
        self._fits: dict[tuple[str, float], dict[tuple[str, bool, bool], CounterfactualFit | None]] = {}
        # Bin widths of the series: of their own samples, and rolled up (as peers are read).
        self._widths: tuple[dict[tuple[str, str], float], dict[tuple[str, str], float]] = ({}, {})

    def width(self, service: str, metric: str, deploy_ts: float, of_peer: bool = False) -> float:
        """The bin width of one series around a deploy, from its sampling interval in the hour before."""
        key = (service, metric)
        widths = self._widths[of_peer]
        width = widths.get(key)
        if width is None:
            source = self.peers_view if of_peer else self.history
            ts = source.window(service, metric, deploy_ts - 3600.0, deploy_ts, before=True)[0]
            width = bin_width(sampling_interval(ts))
            if len(ts) >= 4:  # a series that just started is measured again at its next deploy
                widths[key] = width
        return width

    def forget_widths(self, held: Container[tuple[str, str]], rolled_up: Container[tuple[str, str]]) -> None:
        """Drop the bin widths of series the history (``held``) or the peers' view (``rolled_up``)
        no longer holds (evicted after their retention): one entry per series ever seen would
        otherwise grow with every service a fleet retires. A series that comes back is measured
        again at its next deploy, as a new one is."""
        for widths, kept in zip(self._widths, (held, rolled_up), strict=True):
            for key in [key for key in widths if key not in kept]:
                del widths[key]

    def judge_input(
        self,
        service: str,
        metric: str,
        deploy_ts: float,
        at: float,
        final: bool,
        control: bool = False,
        min_change: float | None = None,
        of_peer: bool = False,
        context: bool = True,
    ) -> JudgeInput:
        """What the judge sees for one metric; ``control`` adds the peers' move over the same windows;
        ``min_change``: the least relative change that fails it, learnt from feedback; ``of_peer``:
        the series as its peers see it (rolled up), for the fleet check. ``context=False``: the
        counterfactual as with ``control``, but neither the peers' move nor the earlier days (for a
        judge that does not read them: ``MetricJudge.reads_context``)."""
        cfg = self.config
        source = self.peers_view if of_peer else self.history
        series = source.series[(service, metric)]
        fit = self.fit(service, metric, deploy_ts, at, control, of_peer)
        b_ts, b_vals = series.window_before(deploy_ts - cfg.baseline_window, deploy_ts)
        c_ts, c_vals = series.window(deploy_ts, at)
        # The peers' move over the window, and over its last minutes once it is long enough (the
        # judge nets those out on their own), from one pass over the peers.
        recent_too = control and at - deploy_ts > 1.5 * self._recent_window
        control_change, control_recent = (
            self._fleet.control_changes(
                service, metric, deploy_ts, at, since=at - self._recent_window if recent_too else None
            )
            if control and context
            else (None, None)
        )
        seasonal = []
        # Earlier days only matter when there is no control group to net out the daily cycle.
        # A peer seen for the fleet check is read over its look-back alone: the rollups are kept no
        # longer (aiops.rollups), and whether it moved over a deploy's window is a question of hours.
        days = 0 if of_peer or control_change is not None or not context else cfg.seasonal_days
        for day in range(1, days + 1):
            shift = day * DAY
            _, past_b = series.window_before(deploy_ts - shift - cfg.baseline_window, deploy_ts - shift)
            _, past_c = series.window(deploy_ts - shift, at - shift)
            if len(past_b) and len(past_c):
                seasonal.append((past_b, past_c))
        return JudgeInput(
            metric=metric,
            direction=metric_direction(metric, cfg.directions),
            deploy_ts=deploy_ts,
            baseline_ts=b_ts,
            baseline=b_vals,
            current_ts=c_ts,
            current=c_vals,
            seasonal=tuple(seasonal),
            control_change=control_change,
            control_recent=control_recent,
            final=final,
            min_change=min_change,
            counterfactual=fit,
            family_size=len(source.metrics_of.get(service, ())),
            peer_post=(
                self._peer_post(fit, metric, deploy_ts, at) if fit is not None and fit.model == "peers" else None
            ),
            at=at,
        )

    def fit(
        self, service: str, metric: str, deploy_ts: float, at: float, peers: bool, of_peer: bool = False
    ) -> CounterfactualFit | None:
        """The counterfactual of one metric around one deploy, fitted once (history before the deploy
        only); ``of_peer``: of the series as its peers see it (rolled up)."""
        fits = self._fits.get((service, deploy_ts))
        if fits is None:
            if len(self._fits) > 20_000:  # only fits of long-decided deploys are left by then
                self._fits.clear()
            fits = self._fits[(service, deploy_ts)] = {}
        key = (metric, peers, of_peer)
        if key in fits:
            return fits[key]
        cfg = self.config
        width = self.width(service, metric, deploy_ts, of_peer)
        # Minute bins lie on the wall clock's minutes, the rollups' own (aiops.rollups), from the
        # first whole minute at or after the deploy: a peer's minute is then exactly its bin, and
        # the deploy's own part-minute is left out of both sides. Slower series keep the deploy's
        # second (each of their minutes holds one sample, whatever the grid).
        origin = grid_ceil(deploy_ts, MINUTE) if width == MINUTE else deploy_ts
        baseline, analysis, history = cfg.windows(width)
        horizon = max(analysis, math.ceil((cfg.recovery_horizon + cfg.analysis_window) / width))
        seasonal_days = 0 if of_peer else cfg.seasonal_days  # (see judge_input)
        own_ts, own_values = (self.peers_view if of_peer else self.history).window(
            service, metric, deploy_ts - history * width - seasonal_days * DAY, deploy_ts, before=True
        )
        peer_data: dict[str, tuple[FloatArray, FloatArray]] = {}
        if peers:
            view = self.peers_view
            for peer in self._fleet.peers(service, metric, deploy_ts, at):
                peer_data[peer] = view.window(peer, metric, origin - history * width, origin, before=True)
        fit = None
        if len(own_ts):
            fit = fit_counterfactual(
                own_ts,
                own_values,
                peer_data,
                deploy_ts=origin,
                width=width,
                baseline_bins=baseline,
                history_bins=history,
                post_bins=min(horizon, round(DAY / width)),
                analysis_bins=analysis,
                seasonal_days=seasonal_days,
                earlier_deploys=[t for t in self.history.deploy_times.get(service, ()) if t < deploy_ts],
            )
        fits[key] = fit
        return fit

    def release(self, d: DeployEvent) -> None:
        """Forget a deploy's fits: none of its looks will come again."""
        self._fits.pop((d.service, d.ts), None)

    def _peer_post(self, fit: CounterfactualFit, metric: str, deploy_ts: float, at: float) -> dict[str, FloatArray]:
        """This look's bins of the peers the counterfactual regresses on; a peer's bins after its own
        deploy are left empty (held at its last value): what its release did is no part of ours."""
        origin = fit.deploy_ts  # the bins' origin: a whole minute for minute bins (see fit)
        m = fit.post_bins(at)
        view = self.peers_view
        windows = [view.window(peer, metric, origin, origin + m * fit.width, before=True) for peer in fit.peer_names]
        out = {}
        for peer, bins in zip(fit.peer_names, _bin_means_each(windows, origin, fit.width, m), strict=True):
            times = view.deploy_times.get(peer, [])
            i = bisect_left(times, deploy_ts)
            if i < len(times) and times[i] <= at:
                bins[max(0, math.floor((times[i] - origin) / fit.width)) :] = np.nan
            out[peer] = bins
        return out

    def series_around(
        self, d: DeployEvent, metrics: Iterable[str], until: float | None, points: int = 240
    ) -> tuple[Series, ...]:
        """Each metric from the baseline start to ``until``, thinned to about ``points`` samples, and
        beside it what was expected (``"<metric> (expected)"``, which api.plot draws as a pair)."""
        end = until if until is not None else d.ts + self.config.analysis_window
        out = []
        for metric in metrics:
            ts, vs = self.history.window(d.service, metric, d.ts - self.config.baseline_window, end)
            stride = max(1, len(ts) // points)
            out.append((metric, tuple(ts[::stride].tolist()), tuple(round(v, 6) for v in vs[::stride].tolist())))
            fit = (
                self.fit(d.service, metric, d.ts, end, self.config.fleet_check)
                if (d.service, metric) in self.history.series
                else None
            )
            if fit is not None:
                peer_post = self._peer_post(fit, metric, d.ts, end) if fit.model == "peers" else None
                own_ts, own_vs = self.history.window(d.service, metric, d.ts - fit.baseline_bins * fit.width, end)
                # The deploy's part-minute is in neither side of minute bins (see fit): not drawn
                # as the baseline's last bin either.
                judged = (own_ts < d.ts) | (own_ts >= fit.deploy_ts)
                own_ts, own_vs = own_ts[judged], own_vs[judged]
                e_ts, e_vs = fit.expected_path(own_ts, own_vs, end, peer_post)
                stride = max(1, len(e_ts) // points)
                out.append(
                    (
                        f"{metric} {EXPECTED_SUFFIX}",
                        tuple(e_ts[::stride].tolist()),
                        tuple(round(v, 6) for v in e_vs[::stride].tolist()),
                    )
                )
        return tuple(out)
