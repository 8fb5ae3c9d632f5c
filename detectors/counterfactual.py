"""What a metric would have done without the deploy, and how far that guess usually misses.

A deploy is judged by the gap between what the metric did after it and a *counterfactual*: what it
would have done anyway. Three candidate counterfactuals are fitted on the hours before the deploy,
on a regular grid of bins (so 15-second and 5-minute metrics are handled alike):

- ``level``: the baseline level carries on;
- ``seasonal``: the same time of day on earlier days (a daily cycle, whatever its phase or shape);
- ``peers``: a multiple of the median of the services that did not deploy and tracked this one
  before the deploy (a synthetic control in the CausalImpact spirit); a peer that did not move with
  the service before the deploy is no control.

Each is scored by an **in-time placebo test**: the same before/after statistic is computed at every
earlier time where no deploy happened, and the spread of those placebo effects is how far this
counterfactual misses when nothing changed. The model that misses least is kept, and its placebo
spread (never less than the spread implied by the residuals' autocorrelation) is the yardstick the
judge measures the real effect with. Autocorrelated noise, a daily ramp the model cannot follow,
or a peer that stopped tracking all widen the placebo spread, so they cost power, not false fails.
The judge's yardstick is also never less than how far the same window strayed on earlier days at
this time of day, as the model would have expected them (**same-time placebos**): the last hours
cannot know that a weekend ends at midnight, the day before can.

Pure numpy: the engine hands in arrays, nothing here reads a clock or a store.

>>> import numpy as np
>>> t = np.arange(-6 * 3600.0, 0.0, 30.0)
>>> rng = np.random.default_rng(1)
>>> y = 100 + 20 * np.sin(2 * np.pi * t / 86400.0) + rng.normal(0, 1, t.size)
>>> fit = fit_counterfactual(t, y, {}, deploy_ts=0.0, width=60.0, baseline_bins=60, history_bins=360,
...                          post_bins=30)
>>> fit.model, fit.placebos > 100
('trend', True)
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.stats import chi2

from aiops.detectors.robust import FloatArray, mad_sigma, nanmedian_rows, robust_sd

DAY = 86_400.0
# Bin widths that divide a day, so "the same bin yesterday" is a whole number of bins back.
BIN_WIDTHS = (60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0)
MIN_PLACEBOS = 20  # fewer placebo windows than this say too little about the spread
MIN_INDEPENDENT_PLACEBOS = 5  # nor do fewer non-overlapping ones (a long window in a short history)
MAX_PEERS = 8  # the best-tracking peers make the index; more add little but cost
# A peer tracks when its smoothed history correlates at least this well with the service's. Peers
# on another daily phase fall below it, and a service with no tracking peer relies on its own
# history. The placebo test has the last word: peers are used only when they miss less.
TRACKING = 0.5
# The placebo spread is read at two points of the placebo moves' folded distribution: the 90th
# percentile (1.645 sd if they were normal) for the body, and the 99th (2.576 sd) for the tail, where
# rare bursts and shifts in the history live that a 90th percentile never sees.
TAIL_Q, TAIL_Z = 0.99, 2.576


def sampling_interval(ts: FloatArray) -> float:
    """Median gap between consecutive samples (NaN with fewer than two).

    >>> sampling_interval(np.array([0.0, 30.0, 60.0, 95.0, 120.0]))
    30.0
    """
    if len(ts) < 2:
        return float("nan")
    gaps = np.diff(ts)
    gaps = gaps[gaps > 0]
    return float(np.median(gaps)) if len(gaps) else float("nan")


def bin_width(interval: float) -> float:
    """The grid for a series sampled every ``interval`` seconds: one minute, or one sample when slower.

    >>> bin_width(15.0), bin_width(30.0), bin_width(300.0), bin_width(float("nan"))
    (60.0, 60.0, 300.0, 60.0)
    """
    if not math.isfinite(interval):
        return BIN_WIDTHS[0]
    for width in BIN_WIDTHS:
        if width >= interval * 0.999:
            return width
    return BIN_WIDTHS[-1]


def bin_means(ts: FloatArray, values: FloatArray, origin: float, width: float, lo: int, hi: int) -> FloatArray:
    """Mean of the samples in each bin ``[origin + i*width, origin + (i+1)*width)`` for lo <= i < hi; NaN if empty.

    >>> bin_means(np.array([0.0, 10.0, 70.0]), np.array([1.0, 3.0, 5.0]), 0.0, 60.0, 0, 3).tolist()
    [2.0, 5.0, nan]
    """
    n = hi - lo
    if n <= 0:
        return np.empty(0)
    idx = np.floor((ts - origin) / width).astype(np.int64) - lo
    keep = (idx >= 0) & (idx < n)
    idx = idx[keep]
    sums = np.bincount(idx, weights=values[keep], minlength=n)
    counts = np.bincount(idx, minlength=n)
    # An empty bin's sum is 0.0 and its count 0: 0/0 is the NaN it must be, so one division does
    # what masking the filled bins did, in a third of the calls (the looks ask for ~10 per metric).
    with np.errstate(invalid="ignore"):
        return np.asarray(sums / counts, dtype=np.float64)


def _smooth(values: FloatArray, half: int) -> FloatArray:
    """NaN-aware centred moving mean over ``2*half + 1`` bins (a day-ago value is one noisy draw)."""
    if half <= 0:
        return values
    ok = np.isfinite(values)
    kernel = np.ones(2 * half + 1)
    sums = np.convolve(np.where(ok, values, 0.0), kernel, mode="same")
    counts = np.convolve(ok.astype(np.float64), kernel, mode="same")
    out = np.full(values.shape, np.nan)
    np.divide(sums, counts, out=out, where=counts > 0)
    return out


def _fill(values: FloatArray) -> FloatArray:
    """Missing bins take the nearest earlier value (the first ones the nearest later value)."""
    ok = np.isfinite(values)
    if ok.all() or not ok.any():
        return values
    idx = np.where(ok, np.arange(len(values)), 0)
    np.maximum.accumulate(idx, out=idx)
    out = values[idx]
    first = int(np.argmax(ok))
    out[:first] = values[first]
    return out


def lag1(values: FloatArray) -> float:
    """Lag-1 autocorrelation of the finite, consecutive pairs (0 when too few)."""
    a, b = values[:-1], values[1:]
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 10:
        return 0.0
    a, b = a[ok] - a[ok].mean(), b[ok] - b[ok].mean()
    denom = math.sqrt(float((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / denom) if denom > 0 else 0.0


def _quantile(values: FloatArray, q: float) -> float:
    """``np.quantile(values, q)`` (its default, linear method) of NaN-free ``values``, the same
    double, without its argument handling (most of its cost on the few hundred placebos here).

    >>> x = np.random.default_rng(0).normal(size=57)
    >>> [_quantile(x[:n], q) == float(np.quantile(x[:n], q)) for n in (1, 41, 57) for q in (0.9, 0.99)]
    [True, True, True, True, True, True]
    """
    n = len(values)
    virtual = (n - 1) * q
    lo = math.floor(virtual)
    hi = min(lo + 1, n - 1)
    part = np.partition(values, (lo, hi))
    a, b = float(part[lo]), float(part[hi])
    gamma = virtual - lo
    # numpy's _lerp: from the nearer end, so that gamma 1 gives b exactly.
    return b - (b - a) * (1 - gamma) if gamma >= 0.5 else a + (b - a) * gamma


@functools.lru_cache(maxsize=4096)
def _chi2_lower10(dof: float) -> float:
    """The chi-square distribution's 10th percentile (scipy's ppf costs ~0.1 ms a call; the same
    few placebo counts per window length recur at every look)."""
    return float(chi2.ppf(0.1, dof))


def _nanmean_rows(stack: FloatArray) -> FloatArray:
    """Column means over the rows that hold a value (NaN where none does)."""
    counts = np.isfinite(stack).sum(axis=0)
    out = np.full(stack.shape[1], np.nan)
    np.divide(np.where(np.isfinite(stack), stack, 0.0).sum(axis=0), counts, out=out, where=counts > 0)
    return out


@dataclass(slots=True)
class Residuals:
    """One candidate counterfactual's misses over the history: observed minus expected, per bin.

    A window's miss is the *median* of its bins (a lone spike is one bin, not a shift), and an
    effect is a post window's median miss minus the baseline's.
    """

    values: FloatArray  # bins [-history_bins, 0), relative to the deploy
    blocked: np.ndarray  # bins a placebo window must not cover (earlier deploys of this service)
    baseline_bins: int
    # The trend model's misses depend on where its line was fitted: its placebos refit the line on
    # each placebo's own baseline (from these observed bins), by prefix sums.
    trend_of: FloatArray | None = None
    # The same bins on earlier days (rows: days; columns: the history's bins, then the bins after
    # the deploy's time of day), and how the model would have read them: the same-time placebos.
    days: FloatArray | None = None
    model: str = "level"
    # Per row of ``days``: the bin (from that day's time of the deploy) of the service's first deploy
    # at or after the day's baseline, inf if none: a day is a placebo only for windows ending before it.
    day_deploy_bins: tuple[float, ...] = ()
    _spread: dict[tuple[int, int], tuple[float, int, float]] = field(default_factory=dict)
    _medians: dict[int, FloatArray] = field(default_factory=dict)
    # What every spread shares (a fit's spreads are asked at each look, one new window each time):
    # the blocked bins' prefix sums, and the lag-1 autocorrelation and robust sd of the residuals.
    _blocked_sums: np.ndarray | None = None
    _noise: tuple[float, float] | None = None

    def baseline_miss(self) -> float:
        """Median miss over the baseline bins just before the deploy."""
        return self._window_medians(self.baseline_bins)[-1] if len(self.values) >= self.baseline_bins else math.nan

    def _window_medians(self, length: int) -> FloatArray:
        """Median of every run of ``length`` consecutive bins (NaN where fewer than half hold data)."""
        cached = self._medians.get(length)
        if cached is None:
            r = self.values
            if len(r) < length:
                cached = np.empty(0)
            elif np.isfinite(r).all():
                # Every bin holds data (the usual case): each window's median is its middle pair
                # once sorted, what nanmedian_rows reads at a full count, without its per-row
                # counting (a new window length comes at every look).
                ordered = np.sort(np.lib.stride_tricks.sliding_window_view(r, length), axis=1)
                cached = (ordered[:, (length - 1) // 2] + ordered[:, length // 2]) / 2.0
            else:
                windows = np.lib.stride_tricks.sliding_window_view(r, length)
                filled = np.isfinite(windows).sum(axis=1)
                cached = np.full(len(windows), np.nan)
                enough = filled >= max(1, length / 2)
                if enough.any():
                    cached[enough] = nanmedian_rows(windows[enough])
            self._medians[length] = cached
        return cached

    def spread(self, start: int, end: int) -> tuple[float, int, float]:
        """How far ``median(post bins [start, end)) - median(baseline bins)`` strays when there is no deploy.

        Returns (spread, placebo count, largest placebo effect): the spread is the larger of the
        placebo spread and the spread the residuals' autocorrelation implies (a placebo sample can be
        small or unlucky); the largest placebo effect is the biggest move seen without a deploy.
        """
        key = (start, end)
        cached = self._spread.get(key)
        if cached is None:
            cached = self._spread[key] = self._compute_spread(start, end)
        return cached

    def _trend_effects(self, taus: np.ndarray, start: int, end: int) -> FloatArray:
        """Each placebo's post-window mean miss from the line fitted on its own baseline bins."""
        y = self.trend_of
        assert y is not None
        base_n = self.baseline_bins
        ok = np.isfinite(y)
        k = np.arange(len(y), dtype=np.float64)
        yv = np.where(ok, y, 0.0)
        kv = np.where(ok, k, 0.0)

        def prefix(v: np.ndarray) -> np.ndarray:
            return np.concatenate([[0.0], np.cumsum(v)])

        n_, sx, sy, sxx, sxy = (prefix(v) for v in (ok.astype(np.float64), kv, yv, kv * kv, kv * yv))
        lo, hi = taus - base_n, taus
        n, x1, y1, x2, xy = (p[hi] - p[lo] for p in (n_, sx, sy, sxx, sxy))
        with np.errstate(all="ignore"):
            slope = (n * xy - x1 * y1) / (n * x2 - x1 * x1)
            cut = (y1 - slope * x1) / n
            a, b = taus + start, taus + end
            m = n_[b] - n_[a]
            mean_miss = (sy[b] - sy[a]) / m - cut - slope * (sx[b] - sx[a]) / m
        return np.where((n >= base_n / 2) & (m >= max(1, (end - start) / 2)), mean_miss, np.nan)

    def _compute_spread(self, start: int, end: int) -> tuple[float, int, float]:
        r, base_n = self.values, self.baseline_bins
        length = max(1, end - start)
        blocked = self._blocked_prefix()
        taus = np.arange(base_n, len(r) - end + 1)
        placebo_sd, n_placebos, largest = 0.0, 0, 0.0
        if len(taus):
            if self.trend_of is not None:
                # Means, where the judge takes medians: a median varies up to pi/2 as much (sd x 1.25).
                effects = self._trend_effects(taus, start, end) * 1.25
            else:
                base_med = self._window_medians(base_n)[taus - base_n]
                post_med = self._window_medians(length)[taus + start]
                effects = post_med - base_med
            clean = blocked[taus + end] - blocked[taus - base_n] == 0
            valid = np.isfinite(effects) & clean
            n_placebos = int(valid.sum())
            if n_placebos >= MIN_PLACEBOS:
                # Around zero, not the placebos' median: a counterfactual that is biased misses by that bias.
                magnitude = np.abs(effects[valid])
                largest = float(magnitude.max())
                # The larger of what the body and the tail imply: the judge's alpha lives in the tail.
                placebo_sd = max(
                    mad_sigma(magnitude, 0.0),
                    _quantile(magnitude, 0.9) / 1.645,
                    _quantile(magnitude, TAIL_Q) / TAIL_Z,
                )
        # What autocorrelated noise alone implies for a difference of two window medians (AR(1);
        # a median of n normal values varies pi/2 times as much as their mean).
        phi, sd = self._noise_of()
        inflation = (1 + phi) / (1 - phi) * math.pi / 2
        ar_sd = sd * math.sqrt(inflation * (1.0 / length + 1.0 / base_n)) if math.isfinite(sd) else 0.0
        # Overlapping placebo windows are not independent: about one per window length is. With
        # fewer than a handful, their spread is a guess: take its upper 90 % confidence bound.
        # (For a window that ends hours after its deploy, placebos a few bins apart share the same
        # hours of drift and this count is too generous: BENCHMARKS.md, "Could a longer watch
        # catch the leaks?". Counting one per span cost a catch at the default windows.)
        independent = n_placebos / length
        if n_placebos < MIN_PLACEBOS or independent < MIN_INDEPENDENT_PLACEBOS:
            ar_sd *= 1.5  # too thin a placebo check on the model: be wary of what the residuals do not show
            if independent >= 1:
                placebo_sd *= math.sqrt(independent / _chi2_lower10(independent))
        return max(placebo_sd, ar_sd, 1e-12), n_placebos, largest

    def _blocked_prefix(self) -> np.ndarray:
        """Prefix sums of the blocked bins (the same for every window: computed once)."""
        if self._blocked_sums is None:
            self._blocked_sums = np.concatenate([[0], np.cumsum(self.blocked)])
        return self._blocked_sums

    def _noise_of(self) -> tuple[float, float]:
        """(lag-1 autocorrelation clipped to [0, 0.97], robust sd) of the residuals the AR(1) bound
        reads: they do not depend on the window, so they are computed once per fit, not per look.
        (The trend model's misses are only meaningful near the line's own baseline.)"""
        if self._noise is None:
            r = self.values
            near = r[-self.baseline_bins :] if self.trend_of is not None else r
            self._noise = (min(max(lag1(near), 0.0), 0.97), robust_sd(near))
        return self._noise

    def judged_spread(self, start: int, end: int) -> float:
        """The judge's yardstick: the larger of :meth:`spread` and the root mean square of the same
        window on earlier days at this time of day (:meth:`day_placebos`).

        The in-time placebos only know the last hours. Earlier days know what the hours after this
        time of day do on their own (a weekend ending at midnight, a nightly batch): where they
        disagree with the model, so may today. The larger, not a pool: a pool would weigh two days
        against dozens of in-time windows and assume they come from one distribution, which is the
        very assumption a weekend breaks. The model is still chosen on the in-time placebos alone,
        so this can only make a fail harder (it costs power where earlier days were unlike each other).
        """
        sd = self.spread(start, end)[0]
        day = self.day_placebos(start, end)
        return max(sd, float(np.sqrt(np.mean(day * day)))) if len(day) else sd

    def day_placebos(self, start: int, end: int) -> FloatArray:
        """The window's effect on each earlier day at the deploy's time of day, as this model would
        have expected that day to go: 0 for the level model, its baseline's line for the trend model,
        the other days for the seasonal one (one day alone cannot check itself). Peers have none."""
        days, h, base_n = self.days, len(self.values), self.baseline_bins
        if days is None or self.model == "peers" or (self.model == "seasonal" and len(days) < 2):
            return np.empty(0)
        out = []
        for k, day in enumerate(days):
            if k < len(self.day_deploy_bins) and self.day_deploy_bins[k] < end:
                continue  # a deploy in that day's window: not a placebo, as in time
            path = day
            if self.model == "seasonal":
                path = day - _nanmean_rows(np.delete(days, k, axis=0))
            base, post = path[h - base_n : h], path[h + start : h + end]
            ok_b, ok_p = np.isfinite(base), np.isfinite(post)
            if ok_b.sum() < max(2, base_n / 2) or ok_p.sum() < max(1, (end - start) / 2):
                continue
            if self.model == "trend":
                x = np.arange(-base_n, 0) + 0.5
                slope, cut = np.polyfit(x[ok_b], base[ok_b], 1)
                post = post - (cut + slope * (np.arange(start, start + len(post)) + 0.5))
                out.append(float(np.median(post[ok_p])))
            else:
                out.append(float(np.median(post[ok_p]) - np.median(base[ok_b])))
        return np.asarray(out)


@dataclass(slots=True)
class CounterfactualFit:
    """The chosen counterfactual of one metric around one deploy, ready to judge any later look."""

    model: str  # "level", "seasonal" or "peers"
    deploy_ts: float
    width: float
    baseline_bins: int
    residuals: Residuals
    baseline_level: float  # median of the observed baseline bins: what "x %" is a share of
    baseline_residual: float  # median miss over the baseline bins
    baseline_filled: int  # baseline bins that hold data
    seasonal_post: FloatArray | None = None  # expected seasonal value for post bins [0, post_bins)
    seasonal_days: int = 0
    peer_names: tuple[str, ...] = ()
    peer_scale: FloatArray | None = None  # each peer's history median: peers enter as relative levels
    slope: float = 0.0  # expected = slope * peer index
    trend: tuple[float, float] | None = None  # (level at the deploy, change per bin) of the trend model
    placebos: int = 0

    def describe(self) -> str:
        """Where the expectation comes from, in words for the evidence."""
        if self.model == "trend":
            return "its baseline's level and trend"
        if self.model == "seasonal":
            days = "day" if self.seasonal_days == 1 else f"{self.seasonal_days} days"
            return f"its own previous {days} at this time"
        if self.model == "peers":
            n = len(self.peer_names)
            return (
                f"{n} tracking peer{'s' if n != 1 else ''} ({', '.join(self.peer_names[:3])}{', ...' if n > 3 else ''})"
            )
        return "its baseline level"

    def post_bins(self, at: float) -> int:
        """How many whole bins after the deploy a look at ``at`` can judge."""
        return max(0, math.floor((at - self.deploy_ts) / self.width + 1e-9))

    def misses(
        self, ts: FloatArray, values: FloatArray, at: float, peer_post: Mapping[str, FloatArray] | None = None
    ) -> FloatArray:
        """Observed minus expected for each whole bin after the deploy (NaN where a bin is empty),
        measured from the baseline's own miss: 0 is "as expected"."""
        m = self.post_bins(at)
        observed = bin_means(ts, values, self.deploy_ts, self.width, 0, m)
        return observed - self.expected(np.arange(m), peer_post) - self.baseline_residual

    def expected_path(
        self, ts: FloatArray, values: FloatArray, at: float, peer_post: Mapping[str, FloatArray] | None = None
    ) -> tuple[FloatArray, FloatArray]:
        """The counterfactual at bin centres over the baseline and after the deploy up to ``at`` (for
        the evidence plot): what the metric was expected to do, on the scale it is judged on."""
        base_n = self.baseline_bins
        observed = bin_means(ts, values, self.deploy_ts, self.width, -base_n, 0)
        before = observed - self.residuals.values[-base_n:] + self.baseline_residual
        m = self.post_bins(at)
        after = self.expected(np.arange(m), peer_post) + self.baseline_residual
        centres = self.deploy_ts + (np.arange(-base_n, m) + 0.5) * self.width
        path = np.concatenate([before, after])
        ok = np.isfinite(path)
        return centres[ok], path[ok]

    def expected(self, post_bins: np.ndarray, peer_post: Mapping[str, FloatArray] | None = None) -> FloatArray:
        """The counterfactual value (up to the residual offset) of each post-deploy bin index."""
        if self.model == "trend" and self.trend is not None:
            cut, slope = self.trend
            return np.asarray(cut + slope * (post_bins + 0.5), dtype=np.float64)
        if self.model == "seasonal" and self.seasonal_post is not None:
            idx = np.clip(post_bins, 0, len(self.seasonal_post) - 1)
            # Beyond the day ahead that was fitted there is no expectation (NaN: not judged).
            return np.where(post_bins < len(self.seasonal_post), self.seasonal_post[idx], np.nan)
        if self.model == "peers" and self.peer_scale is not None:
            empty = np.full(len(post_bins), np.nan)
            columns = []
            for name in self.peer_names:
                values = (peer_post or {}).get(name)
                columns.append(values if values is not None and len(values) == len(post_bins) else empty)
            index = peer_index(columns, self.peer_scale)
            return np.asarray(self.slope * np.where(np.isfinite(index), index, 1.0))
        return np.zeros(len(post_bins))


def _tracking_peers(
    peers: Mapping[str, tuple[FloatArray, FloatArray]], deploy_ts: float, width: float, history_bins: int, y: FloatArray
) -> tuple[tuple[str, ...], FloatArray]:
    """The peers that moved with ``y`` over the history (correlation >= TRACKING), best first, and
    their baseline medians (each peer enters as its level relative to that)."""
    ranked = []
    ok_y = np.isfinite(y)
    # Correlate the slow part: minute bins of a noisy metric hide a shared cycle under their noise.
    half = max(1, round(300.0 / width))
    y_slow = _smooth(y, half)
    for name in sorted(peers):
        ts, values = peers[name]
        col = bin_means(ts, values, deploy_ts, width, -history_bins, 0)
        ok = np.isfinite(col)
        if ok.sum() < 0.75 * ok_y.sum():  # a peer must cover most of the history the service has
            continue
        scale = float(np.median(col[ok]))
        both = ok & ok_y
        if not math.isfinite(scale) or abs(scale) < 1e-12 or both.sum() < 10:
            continue
        slow = _smooth(col, half)
        a, b = slow[both] - slow[both].mean(), y_slow[both] - y_slow[both].mean()
        denom = math.sqrt(float((a * a).sum() * (b * b).sum()))
        corr = float((a * b).sum()) / denom if denom > 0 else 0.0
        if corr >= TRACKING:
            ranked.append((-corr, name, scale))
    ranked.sort()
    chosen = ranked[:MAX_PEERS]
    return tuple(n for _, n, _ in chosen), np.array([sc for _, _, sc in chosen])


def peer_index(columns: Sequence[FloatArray], scales: FloatArray) -> FloatArray:
    """The median, bin by bin, of the peers' levels relative to their own baseline: one covariate
    that a single peer's own trouble cannot drag along.

    >>> cols = [np.array([1.0, 2.0]), np.array([2.0, 4.0]), np.array([30.0, 6.0])]
    >>> peer_index(cols, np.array([1.0, 2.0, 30.0])).tolist()
    [1.0, 2.0]
    """
    stack = np.vstack([_fill(np.asarray(c, dtype=np.float64)) / sc for c, sc in zip(columns, scales, strict=True)])
    return nanmedian_rows(stack.T)


def fit_counterfactual(
    own_ts: FloatArray,
    own_values: FloatArray,
    peers: Mapping[str, tuple[FloatArray, FloatArray]],
    *,
    deploy_ts: float,
    width: float,
    baseline_bins: int,
    history_bins: int,
    post_bins: int,
    analysis_bins: int | None = None,
    seasonal_days: int = 2,
    earlier_deploys: Sequence[float] = (),
) -> CounterfactualFit:
    """Fit the candidate counterfactuals on the samples before ``deploy_ts`` and keep the one that misses least.

    ``post_bins``: how far after the deploy the counterfactual must reach (recovery watches too);
    ``analysis_bins``: the window whose placebo spread picks the model (``post_bins`` if None).
    ``own_*``: this series, reaching ``seasonal_days`` days before the history when it can;
    ``peers``: services that did not deploy, over the history; ``earlier_deploys``: this service's
    deploys before this one (placebo windows must not straddle them).
    """
    d_bins = round(DAY / width)
    y_all = bin_means(own_ts, own_values, deploy_ts, width, -history_bins - seasonal_days * d_bins, 0)
    y = y_all[-history_bins:]
    blocked = np.zeros(history_bins, dtype=np.int64)
    for ts in earlier_deploys:
        i = math.floor((ts - deploy_ts) / width) + history_bins
        if 0 <= i < history_bins:
            blocked[i] = 1
    base = y[-baseline_bins:]
    base_ok = np.isfinite(base)
    level = float(np.median(base[base_ok])) if base_ok.any() else float("nan")

    candidates: list[tuple[str, FloatArray, dict[str, object]]] = [("level", y.copy(), {})]
    # Level and trend of the baseline, carried on: a daily ramp the history has no earlier day of.
    ok_b = np.isfinite(base)
    if ok_b.sum() >= max(6, baseline_bins // 2):
        centres = np.arange(-baseline_bins, 0) + 0.5
        slope, cut = np.polyfit(centres[ok_b], base[ok_b], 1)
        line = cut + slope * (np.arange(-history_bins, 0) + 0.5)
        candidates.append(("trend", y - line, {"trend": (float(cut), float(slope))}))

    # The same bins on earlier days, smoothed: a day-ago minute is one noisy draw of the cycle.
    smooth = max(1, round(600.0 / width))
    days: list[FloatArray] = []
    deploy_bins: list[float] = []
    for k in range(1, seasonal_days + 1):
        # Day k's bins under the history and under the analysis window (all before the deploy).
        start = len(y_all) - history_bins - k * d_bins
        post_part = min(post_bins, d_bins)
        full = y_all[start : start + history_bins + post_part]
        if len(full) < history_bins + post_part:
            full = np.concatenate([full, np.full(history_bins + post_part - len(full), np.nan)])
        if np.isfinite(full[:history_bins]).mean() >= 0.5:
            days.append(_smooth(full, smooth))
            # Only deploys under a window judged matter: the counterfactual reaches hours further
            # (recovery watches), and a deploy 5 hours after this time that day spoils no placebo.
            then = deploy_ts - k * DAY
            after = [(ts - then) / width for ts in earlier_deploys if ts >= then - baseline_bins * width]
            deploy_bins.append(math.floor(min(after)) if after else math.inf)
    stack = np.vstack(days) if days else None
    if stack is not None:
        profile = _nanmean_rows(stack)  # the mean over the days that hold each bin
        if np.isfinite(profile[:history_bins]).mean() >= 0.5:
            candidates.append(
                ("seasonal", y - profile[:history_bins], {"seasonal_post": profile[history_bins:], "days": len(days)})
            )

    names, scales = _tracking_peers(peers, deploy_ts, width, history_bins, y)
    if len(names) >= 2 and np.isfinite(y).sum() >= 30:
        index = peer_index([bin_means(*peers[n], deploy_ts, width, -history_bins, 0) for n in names], scales)
        # The service moves in proportion to its peers: one factor, its typical ratio to their index.
        # (A fitted slope would be attenuated by the index's own noise over a few flat hours.)
        with np.errstate(all="ignore"):
            ratio = y / index
        ok = np.isfinite(ratio)
        if ok.sum() >= 30:
            factor = float(np.median(ratio[ok]))
            extra = {"names": names, "slope": factor, "scales": scales}
            candidates.append(("peers", y - factor * index, extra))

    judged = min(post_bins, analysis_bins or post_bins)
    best: tuple[float, str, Residuals, dict[str, object]] | None = None
    for model, resid, extra in candidates:
        residuals = Residuals(
            resid,
            blocked,
            baseline_bins,
            trend_of=y if model == "trend" else None,
            days=stack,
            model=model,
            day_deploy_bins=tuple(deploy_bins),
        )
        spread = residuals.spread(0, judged)[0]
        if best is None or spread < best[0] * 0.95:  # a model has to miss clearly less to replace a simpler one
            best = (spread, model, residuals, extra)
    assert best is not None
    _, model, residuals, extra = best
    baseline_residual = residuals.baseline_miss()
    return CounterfactualFit(
        model=model,
        deploy_ts=deploy_ts,
        width=width,
        baseline_bins=baseline_bins,
        residuals=residuals,
        baseline_level=level,
        baseline_residual=baseline_residual,
        baseline_filled=int(base_ok.sum()),
        seasonal_post=extra.get("seasonal_post"),  # type: ignore[arg-type]
        seasonal_days=int(extra.get("days", 0)),  # type: ignore[call-overload]
        peer_names=extra.get("names", ()),  # type: ignore[arg-type]
        slope=float(extra.get("slope", 0.0)),  # type: ignore[arg-type]
        trend=extra.get("trend"),  # type: ignore[arg-type]
        peer_scale=extra.get("scales"),  # type: ignore[arg-type]
        placebos=residuals.spread(0, judged)[1],
    )
