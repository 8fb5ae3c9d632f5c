"""The counterfactual judge: calibrated under autocorrelation, blind to a daily phase it has seen,
peers used only when they track, windows that stretch for slowly sampled metrics."""

from __future__ import annotations

import math

import numpy as np
import pytest
from fleets import T0, deploy, in_time_order, make_engine

from aiops.detectors.base import JudgeInput
from aiops.detectors.counterfactual import (
    CounterfactualFit,
    Residuals,
    bin_width,
    fit_counterfactual,
    sampling_interval,
)
from aiops.detectors.judge import BeforeAfterJudge
from aiops.detectors.residual_judge import CounterfactualJudge
from aiops.engine import EngineConfig
from aiops.model import Direction, Effects, MetricSample, Record, VerdictResult

DAY = 86_400.0


def ar1(n: int, phi: float, rng: np.random.Generator) -> np.ndarray:
    """AR(1) noise with unit marginal variance."""
    eps = rng.normal(0.0, math.sqrt(1 - phi * phi), n)
    out = np.empty(n)
    acc = rng.normal()
    for i in range(n):
        acc = phi * acc + eps[i]
        out[i] = acc
    return out


def judge_final(
    values: np.ndarray,
    ts: np.ndarray,
    deploy_ts: float,
    peers: dict | None = None,
    seasonal_days: int = 2,
    earlier_deploys: tuple[float, ...] = (),
    post_bins: int = 30,
) -> tuple:
    """The counterfactual judge's final look, 30 minutes after ``deploy_ts``, on 30-s samples
    (``post_bins``: how far the fit reaches; the engine's reach covers the recovery watch)."""
    before = ts < deploy_ts
    fit = fit_counterfactual(
        ts[before],
        values[before],
        peers or {},
        deploy_ts=deploy_ts,
        width=60.0,
        baseline_bins=60,
        history_bins=360,
        post_bins=post_bins,
        analysis_bins=30,
        seasonal_days=seasonal_days,
        earlier_deploys=earlier_deploys,
    )
    after = (ts >= deploy_ts) & (ts <= deploy_ts + 1800)
    data = JudgeInput(
        "latency_ms",
        Direction.UP_IS_WORSE,
        deploy_ts,
        ts[before][-120:],
        values[before][-120:],
        ts[after],
        values[after],
        final=True,
        counterfactual=fit,
        at=deploy_ts + 1800,
    )
    return CounterfactualJudge().judge(data), BeforeAfterJudge().judge(data), fit


@pytest.mark.parametrize("phi", [0.0, 0.5, 0.9])
def test_good_deploys_fail_at_the_nominal_rate_under_ar1_noise(phi: float) -> None:
    """No effect, AR(1) noise at 30-s samples: the final look (alpha 1e-3, two views) fails about 0.1 %
    of good deploys whatever phi; a rank test on the raw samples fails far more as phi grows."""
    rng = np.random.default_rng(int(phi * 10) + 1)
    ts = T0 + np.arange(0.0, 6.5 * 3600, 30.0)
    deploy_ts = T0 + 6 * 3600
    runs, ours, rank = 150, 0, 0
    for _ in range(runs):
        # 10 % noise: large enough that the 5 % floor does not decide alone.
        values = 100.0 * (1 + 0.1 * ar1(len(ts), phi, rng))
        mine, old, _ = judge_final(values, ts, deploy_ts)
        ours += mine.verdict is VerdictResult.FAIL
        rank += old.verdict is VerdictResult.FAIL
    # Binomial: 150 runs at 0.1 % expects 0.15; 3 or more has probability < 1e-3.
    assert ours <= 2, f"{ours} of {runs} good deploys failed at phi={phi}"
    if phi >= 0.9:
        assert rank >= 10, "the contrast: a rank test that assumes independent samples fails many"


def test_rare_bursts_in_the_history_widen_the_yardstick_of_short_windows() -> None:
    """Three 4-minute bursts in 6 hours move about 4 % of the 5-minute placebo windows: the 90th
    percentile of the placebo moves does not see them, the 99th does. The judge's alpha lives in the
    tail, so the yardstick of a 5-minute window grows to the bursts' size; a 30-minute window's
    median is not moved by them and keeps its noise-sized yardstick."""
    rng = np.random.default_rng(4)
    values = rng.normal(0.0, 1.0, 360)
    quiet = Residuals(values.copy(), np.zeros(360, dtype=np.int64), 60)
    for start in (50, 170, 290):
        values[start : start + 4] += 8.0
    bursty = Residuals(values, np.zeros(360, dtype=np.int64), 60)
    assert quiet.spread(0, 5)[0] < 1.0
    assert bursty.spread(0, 5)[0] > 2.5
    assert bursty.spread(0, 30)[0] < 1.0


def test_step_of_a_few_noise_widths_fails_under_autocorrelation() -> None:
    rng = np.random.default_rng(5)
    ts = T0 + np.arange(0.0, 6.5 * 3600, 30.0)
    deploy_ts = T0 + 6 * 3600
    values = 100.0 * (1 + 0.03 * ar1(len(ts), 0.6, rng))
    values[ts >= deploy_ts] *= 1.3
    mine, _, _ = judge_final(values, ts, deploy_ts)
    assert mine.verdict is VerdictResult.FAIL
    assert mine.change is not None and 0.2 < mine.change < 0.4
    assert "expected from its baseline level" in mine.reason


def daily(ts: np.ndarray, phase: float, amplitude: float = 0.4) -> np.ndarray:
    return 1 + amplitude * np.sin(2 * math.pi * (ts - T0) / DAY + phase)


def test_own_daily_cycle_from_earlier_days_is_not_a_regression() -> None:
    """A service on the steep side of its daily cycle: the level model would read the ramp as a rise;
    with two earlier days in the history the seasonal model is chosen and the deploy passes."""
    rng = np.random.default_rng(2)
    ts = T0 + np.arange(0.0, 2.6 * DAY, 30.0)
    # The deploy at the steepest rise of this service's cycle.
    deploy_ts = T0 + 2.5 * DAY
    values = 100.0 * daily(ts, phase=-2 * math.pi * 0.5) * (1 + 0.02 * rng.standard_normal(len(ts)))
    mine, _, fit = judge_final(values, ts, deploy_ts)
    assert fit.model == "seasonal"
    assert mine.verdict is VerdictResult.PASS
    assert "its own previous 2 days at this time" in mine.reason
    # And a real 15 % step on top of the same ramp fails.
    values[ts >= deploy_ts] *= 1.15
    mine, _, _ = judge_final(values, ts, deploy_ts)
    assert mine.verdict is VerdictResult.FAIL


def test_peers_on_another_daily_phase_are_no_control_but_tracking_peers_are() -> None:
    rng = np.random.default_rng(3)
    ts = T0 + np.arange(0.0, 6.5 * 3600, 30.0)
    deploy_ts = T0 + 6 * 3600
    shared = daily(ts, 0.3, 0.3)

    def noisy(base: np.ndarray) -> np.ndarray:
        return 100.0 * base * (1 + 0.01 * rng.standard_normal(len(ts)))

    service = noisy(shared)
    tracking = {f"p{i}": (ts[ts < deploy_ts], noisy(shared)[ts < deploy_ts]) for i in range(4)}
    opposite = {f"q{i}": (ts[ts < deploy_ts], noisy(daily(ts, 0.3 + math.pi, 0.3))[ts < deploy_ts]) for i in range(4)}
    _, _, fit = judge_final(service, ts, deploy_ts, tracking)
    assert fit.model == "peers" and set(fit.peer_names) == set(tracking)
    _, _, fit = judge_final(service, ts, deploy_ts, opposite)
    assert fit.model != "peers" and not fit.peer_names


def test_sampling_interval_sets_the_grid() -> None:
    assert sampling_interval(np.arange(0.0, 3000.0, 300.0)) == 300.0
    assert bin_width(15.0) == 60.0 and bin_width(300.0) == 300.0 and bin_width(3600.0) == 3600.0
    # Windows stretch to a minimum of bins: 12 baseline and 8 analysis bins at 5 minutes.
    assert EngineConfig().windows(300.0)[:2] == (12, 8)


def five_minute_service(service: str, *, days: float, seed: int, step_at: float | None, step: float) -> list[Record]:
    rng = np.random.default_rng(seed)
    ts = T0 + np.arange(0.0, days * DAY, 300.0)
    values = 0.25 * daily(ts, 1.0, 0.3) * (1 + 0.03 * rng.standard_normal(len(ts)))
    if step_at is not None:
        values = np.where(ts >= step_at, values * (1 + step), values)
    return [
        MetricSample(service, "http_request_duration_seconds_p99", float(t), float(v))
        for t, v in zip(ts, values, strict=True)
    ]


def run(records: list[Record]) -> Effects:
    engine = make_engine()
    out = Effects()
    for i in range(0, len(records), 1000):
        out.extend(engine.process(records[i : i + 1000]))
    out.extend(engine.finish())
    return out


def test_five_minute_metrics_are_judged_with_default_windows() -> None:
    """At 5-minute sampling the default 30-minute window holds 6 points; the engine stretches it to
    8 bins (40 minutes), fails a 30 % step within half an hour and passes a clean deploy."""
    at = T0 + 2.5 * DAY
    bad = five_minute_service("api", days=2.7, seed=1, step_at=at, step=0.3)
    good = five_minute_service("web", days=2.7, seed=2, step_at=None, step=0.0)
    out = run(in_time_order([*bad, *good, deploy("api", at), deploy("web", at)]))
    verdicts = {v.deployment_id: v for v in out.verdicts}
    assert verdicts["api-v2"].verdict is VerdictResult.FAIL
    decided = verdicts["api-v2"].decided_at
    assert decided is not None and decided - at <= 30 * 60
    assert verdicts["web-v2"].verdict is VerdictResult.PASS
    assert verdicts["web-v2"].decided_at == math.ceil((at + 8 * 300) / 60.0) * 60.0  # on the looks' minute grid


def test_too_little_data_is_inconclusive_with_the_reason() -> None:
    """Two samples before the deploy: no verdict can be honest; the reason says what is missing."""
    records: list[Record] = [
        MetricSample("api", "http_request_duration_seconds_p99", T0 + k * 300.0, 0.2) for k in range(2)
    ]
    records += [MetricSample("api", "http_request_duration_seconds_p99", T0 + 600 + k * 300.0, 0.3) for k in range(12)]
    out = run(in_time_order([*records, deploy("api", T0 + 600)]))
    (v,) = out.verdicts
    assert v.verdict is VerdictResult.INCONCLUSIVE
    assert "too little data" in v.reason and "baseline" in v.reason


def test_failed_incident_plot_draws_the_expectation() -> None:
    from aiops.api.plot import incident_svg

    at = T0 + 2.5 * DAY
    out = run(in_time_order([*five_minute_service("api", days=2.7, seed=1, step_at=at, step=0.5), deploy("api", at)]))
    (incident,) = [i for i in out.incidents if i.deployment_id == "api-v2"]
    names = [name for name, _, _ in incident.series]
    assert "http_request_duration_seconds_p99 (expected)" in names
    svg = incident_svg(incident, at)
    assert svg.count("<polyline") == 2 and "expected" in svg


def weekend_ends_at_midnight(seasonal_days: int, earlier_deploys: tuple[float, ...] = (), post_bins: int = 30) -> tuple:
    """A good deploy at 23:40 on a 'Sunday': 20 minutes later the weekend ends and the level rises
    from 80 to 100. The last hours (all weekend) cannot know it; the earlier days at this time can:
    'Friday' dropped from 100 to 80 at midnight and 'Saturday' stayed flat. Final look at +30 min."""
    rng = np.random.default_rng(11)
    deploy_ts = T0 + 3 * DAY - 1200.0  # midnight of day 3 is 20 minutes after the deploy
    ts = np.arange(deploy_ts - 2 * DAY - 6 * 3600, deploy_ts + 1800 + 1, 30.0)
    day = np.floor((ts - T0) / DAY)  # day 0: 'Friday', 1: 'Saturday', 2: 'Sunday', 3: 'Monday'
    values = np.where((day == 1) | (day == 2), 80.0, 100.0) + rng.normal(0, 1.0, ts.size)
    verdict, _, fit = judge_final(
        values, ts, deploy_ts, seasonal_days=seasonal_days, earlier_deploys=earlier_deploys, post_bins=post_bins
    )
    return verdict, fit


def test_what_earlier_days_did_at_this_time_widens_the_yardstick() -> None:
    # Judged on the last hours alone, the weekend's end reads as a 25 % regression.
    blind, blind_fit = weekend_ends_at_midnight(seasonal_days=0)
    assert blind.verdict is VerdictResult.FAIL, blind.reason
    assert len(blind_fit.residuals.day_placebos(0, 30)) == 0
    # With the earlier days, their disagreement at this time of day (one dropped 20, one did not)
    # is part of the yardstick: the same move is within what this hour does on its own.
    seen, fit = weekend_ends_at_midnight(seasonal_days=2)
    assert seen.verdict is VerdictResult.PASS, seen.reason
    placebos = fit.residuals.day_placebos(20, 30)
    assert len(placebos) == 2 and float(np.max(np.abs(placebos))) > 10  # the 20 drop, smoothed
    assert fit.residuals.judged_spread(0, 30) > 5 * fit.residuals.spread(0, 30)[0]


def test_an_earlier_day_with_a_deploy_in_its_window_is_no_placebo() -> None:
    _, fit = weekend_ends_at_midnight(seasonal_days=2)
    deploy_ts = fit.deploy_ts
    _, with_deploy = weekend_ends_at_midnight(seasonal_days=2, earlier_deploys=(deploy_ts - DAY + 300,))
    assert len(fit.residuals.day_placebos(0, 30)) == 2
    assert len(with_deploy.residuals.day_placebos(0, 30)) == 1
    # Five minutes into that day's window: the first five minutes are still a placebo there.
    assert len(with_deploy.residuals.day_placebos(0, 5)) == 2


def test_a_deploy_hours_after_that_time_of_day_spoils_no_placebo() -> None:
    # The counterfactual reaches hours past the window (the engine's reach covers the 6-h recovery
    # watch); a deploy 2 hours after this time of day on an earlier day is outside every window
    # judged, and used to cost its day (and with it the weekend's end, as a weekly fleet showed).
    deploy_ts = T0 + 3 * DAY - 1200.0

    def fitted(earlier: float) -> CounterfactualFit:
        return weekend_ends_at_midnight(seasonal_days=2, earlier_deploys=(earlier,), post_bins=390)[1]

    later, before_baseline, in_baseline = (fitted(deploy_ts - DAY + s) for s in (7200, -4000, -600))
    assert len(later.residuals.day_placebos(0, 30)) == 2
    assert len(before_baseline.residuals.day_placebos(0, 30)) == 2
    assert len(in_baseline.residuals.day_placebos(0, 30)) == 1


def test_window_medians_of_a_gapless_history_are_those_of_the_nan_aware_path() -> None:
    """The fast path (every bin holds data) gives the very numbers nanmedian_rows gives."""
    from aiops.detectors.counterfactual import Residuals
    from aiops.detectors.robust import nanmedian_rows

    rng = np.random.default_rng(7)
    for n in (5, 60, 361):
        values = np.round(rng.normal(0, 1, n), 2)  # ties too
        residuals = Residuals(values, np.zeros(n, dtype=np.int64), min(n, 30))
        for length in range(1, n + 1, max(1, n // 17)):
            expected = nanmedian_rows(np.lib.stride_tricks.sliding_window_view(values, length))
            assert np.array_equal(residuals._window_medians(length), expected)


def test_peer_bins_in_one_pass_are_each_peers_own_bin_means() -> None:
    from aiops.detectors.counterfactual import bin_means
    from aiops.evidence import _bin_means_each

    rng = np.random.default_rng(11)
    for m in (1, 7, 40):
        windows = []
        for size in (0, 3, 50, 200):  # an empty peer, and samples before and after the bins
            ts = np.sort(rng.uniform(-120.0, 60.0 * m + 120.0, size))
            windows.append((ts, rng.normal(100.0, 5.0, size)))
        for got, (ts, values) in zip(_bin_means_each(windows, 0.0, 60.0, m), windows, strict=True):
            assert np.array_equal(got, bin_means(ts, values, 0.0, 60.0, 0, m), equal_nan=True)


def test_quantile_is_numpys_to_the_last_bit() -> None:
    from aiops.detectors.counterfactual import _quantile

    rng = np.random.default_rng(5)
    for n in range(1, 400, 7):
        values = np.abs(rng.standard_t(3, n))
        for q in (0.5, 0.9, 0.95, 0.99):
            assert _quantile(values.copy(), q) == float(np.quantile(values, q))
