"""The judge and its statistics, with lists of numbers: no engine, no I/O."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import mannwhitneyu

from aiops.detectors.base import JudgeInput
from aiops.detectors.combine import combine
from aiops.detectors.judge import BeforeAfterJudge, flat_baseline_floor
from aiops.detectors.robust import MAD_TO_SIGMA, center_scale, median, robust_sd
from aiops.detectors.stats import hodges_lehmann, mann_whitney_p
from aiops.model import Direction, MetricVerdict, VerdictResult


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("alternative", ["greater", "less", "two-sided"])
def test_mann_whitney_matches_scipy_asymptotic(seed: int, alternative: str) -> None:
    rng = np.random.default_rng(seed)
    x = np.round(rng.normal(0.3, 1, 40), 1)  # rounding makes ties
    y = np.round(rng.normal(0, 1, 90), 1)
    ours = mann_whitney_p(x, y, alternative)  # type: ignore[arg-type]
    ref = mannwhitneyu(x, y, alternative=alternative, method="asymptotic", use_continuity=True).pvalue
    assert ours == pytest.approx(ref, rel=1e-9, abs=1e-12)


def test_hodges_lehmann_recovers_a_shift_despite_outliers() -> None:
    rng = np.random.default_rng(1)
    y = rng.normal(10, 1, 200)
    x = rng.normal(12, 1, 50)
    x[:5] = 1000.0
    assert hodges_lehmann(x, y) == pytest.approx(2.0, abs=0.3)


def test_flat_baseline_still_has_a_scale() -> None:
    assert center_scale(np.full(30, 5.0)) == (5.0, 0.0)  # no floor unless the caller gives one
    assert center_scale(np.full(30, 5.0), floor=flat_baseline_floor) == (5.0, 0.05)  # 1 % of the level
    quantised = np.array([5.0] * 20 + [4.0, 6.0] * 5)  # MAD 0, but not flat
    assert center_scale(quantised, floor=flat_baseline_floor)[1] == pytest.approx(0.5 * np.std(quantised))


@pytest.mark.parametrize("seed", range(20))
def test_one_robust_scale_is_the_mad_sigma_of_numpy(seed: int) -> None:
    rng = np.random.default_rng(seed)
    values = np.round(rng.standard_t(3, int(rng.integers(3, 80))) * 10, int(seed % 3))
    center = float(np.median(values))
    assert median(values) == center
    assert center_scale(values) == (center, float(MAD_TO_SIGMA * np.median(np.abs(values - center))))
    with_gaps = np.concatenate([values, [np.nan, np.inf]])
    assert robust_sd(with_gaps) == center_scale(values)[1]  # only the finite values count
    assert np.isnan(robust_sd(np.array([1.0, np.nan, 2.0])))  # fewer than three


def judge_input(before: np.ndarray, after: np.ndarray, direction: Direction, **kw: object) -> JudgeInput:
    return JudgeInput(
        "m",
        direction,
        0.0,
        np.arange(len(before), dtype=float) - len(before),
        before,
        np.arange(len(after), dtype=float),
        after,
        **kw,
    )  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("direction", "shift", "expected"),
    [
        (Direction.UP_IS_WORSE, 0.3, VerdictResult.FAIL),
        (Direction.UP_IS_WORSE, -0.3, VerdictResult.PASS),
        (Direction.DOWN_IS_WORSE, -0.3, VerdictResult.FAIL),
        (Direction.DOWN_IS_WORSE, 0.3, VerdictResult.PASS),
        (Direction.BOTH, -0.3, VerdictResult.FAIL),
    ],
)
def test_judge_is_direction_aware(direction: Direction, shift: float, expected: VerdictResult) -> None:
    rng = np.random.default_rng(3)
    before = rng.normal(100, 3, 120)
    after = rng.normal(100 * (1 + shift), 3, 30)
    assert BeforeAfterJudge().judge(judge_input(before, after, direction)).verdict is expected


@pytest.mark.parametrize(
    ("direction", "shift"),
    [(Direction.UP_IS_WORSE, 0.3), (Direction.DOWN_IS_WORSE, -0.3), (Direction.BOTH, 0.3), (Direction.BOTH, -0.3)],
)
def test_onset_is_where_the_metric_crossed_to_its_worse_side(direction: Direction, shift: float) -> None:
    """A few points just on the better side after the deploy, then the move: the onset is the first
    moved point, for a metric worse either way too (a fall there was once dated at the last sample)."""
    rng = np.random.default_rng(4)
    before = rng.normal(100, 1, 120)
    after = np.concatenate([np.full(6, 100 - np.sign(shift)), rng.normal(100 * (1 + shift), 1, 24)])
    verdict = BeforeAfterJudge().judge(judge_input(before, after, direction, final=True))
    assert verdict.verdict is VerdictResult.FAIL
    assert verdict.onset == 6.0  # judge_input stamps the points after the deploy 0, 1, 2, ...


def test_judge_says_inconclusive_without_enough_data() -> None:
    v = BeforeAfterJudge().judge(judge_input(np.ones(5), np.ones(2) * 9, Direction.UP_IS_WORSE))
    assert v.verdict is VerdictResult.INCONCLUSIVE and "too little data" in v.reason


def test_tiny_significant_change_is_below_the_bar() -> None:
    rng = np.random.default_rng(4)
    before = rng.normal(100, 0.1, 500)
    after = rng.normal(101, 0.1, 200)  # +1 %: highly significant, not worth failing a release
    assert BeforeAfterJudge().judge(judge_input(before, after, Direction.UP_IS_WORSE)).verdict is VerdictResult.PASS


def test_interim_looks_need_stronger_evidence_than_the_final_one() -> None:
    rng = np.random.default_rng(0)
    before = rng.normal(100, 10, 60)
    after = rng.normal(112, 10, 12)
    judge = BeforeAfterJudge()
    interim = judge.judge(judge_input(before, after, Direction.UP_IS_WORSE))
    final = judge.judge(judge_input(before, after, Direction.UP_IS_WORSE, final=True))
    # The premise: evidence between the two bars (interim 1e-4, final 1e-3).
    assert interim.p_value == final.p_value and 1e-4 < interim.p_value < 1e-3  # type: ignore[operator]
    assert (interim.verdict, final.verdict) == (VerdictResult.PASS, VerdictResult.FAIL)


def test_daily_rise_seen_on_earlier_days_is_not_a_regression() -> None:
    rng = np.random.default_rng(6)
    before = rng.normal(100, 2, 60)
    after = rng.normal(130, 2, 30)  # every day the load climbs 30 % at this hour
    seasonal = tuple((rng.normal(100, 2, 60), rng.normal(130, 2, 30)) for _ in range(2))
    plain = BeforeAfterJudge().judge(judge_input(before, after, Direction.UP_IS_WORSE))
    aware = BeforeAfterJudge().judge(judge_input(before, after, Direction.UP_IS_WORSE, seasonal=seasonal))
    assert (plain.verdict, aware.verdict) == (VerdictResult.FAIL, VerdictResult.PASS)


def test_a_calibrated_bar_needs_a_larger_change() -> None:
    rng = np.random.default_rng(8)
    before = rng.normal(100, 3, 120)
    after = rng.normal(110, 3, 30)
    judge = BeforeAfterJudge()
    assert judge.judge(judge_input(before, after, Direction.UP_IS_WORSE)).verdict is VerdictResult.FAIL
    dull = judge.judge(judge_input(before, after, Direction.UP_IS_WORSE, min_change=0.15))
    assert dull.verdict is VerdictResult.PASS


def test_combine_scores_and_states() -> None:
    bad = MetricVerdict("latency", VerdictResult.FAIL, p_value=1e-9, effect=6.0, reason="latency rose 40%")
    good = MetricVerdict("errors", VerdictResult.PASS, p_value=0.5, effect=0.1)
    failed = combine("d", "api", [good, bad], decided_at=10.0, final=False)
    assert failed.verdict is VerdictResult.FAIL and failed.score <= 40 and failed.metrics[0].metric == "latency"
    assert combine("d", "api", [good], decided_at=10.0, final=False).verdict is VerdictResult.PENDING
    passed = combine("d", "api", [good], decided_at=10.0, final=True)
    assert passed.verdict is VerdictResult.PASS and passed.score >= 60
    nothing = MetricVerdict("errors", VerdictResult.INCONCLUSIVE, reason="too little data")
    assert combine("d", "api", [nothing], decided_at=1.0, final=True).verdict is VerdictResult.INCONCLUSIVE


def _inputs(shifts: dict[str, float], direction: Direction = Direction.UP_IS_WORSE) -> list[JudgeInput]:
    """Several metrics of one service, 6 h of history at 30 s, each shifted by its share after the deploy."""
    from aiops.detectors.base import JudgeInput as In
    from aiops.detectors.counterfactual import fit_counterfactual

    rng = np.random.default_rng(11)
    t_h, t_c = np.arange(-6 * 3600.0, 0.0, 30.0), np.arange(0.0, 1800.0, 30.0)
    inputs = []
    for name, s in shifts.items():
        fit = fit_counterfactual(
            t_h,
            rng.normal(100, 5, t_h.size),
            {},
            deploy_ts=0.0,
            width=60.0,
            baseline_bins=60,
            history_bins=360,
            post_bins=30,
        )
        after = rng.normal(100 * (1 + s), 5, t_c.size)
        inputs.append(In(name, direction, 0.0, t_h, np.empty(0), t_c, after, final=True, counterfactual=fit, at=1800.0))
    return inputs


def test_isolation_forest_sees_a_joint_regression_no_single_metric_fails() -> None:
    from aiops.detectors.iforest import IsolationForestJudge
    from aiops.detectors.residual_judge import CounterfactualJudge

    # 4 % each: under the 5 % floor of a single metric, plain in four at once.
    small = {"latency": 0.04, "errors": 0.04, "cpu": 0.04, "queue": 0.04}
    singles = [CounterfactualJudge().judge(d).verdict for d in _inputs(small)]
    assert VerdictResult.FAIL not in singles
    assert IsolationForestJudge().judge_service(_inputs(small)).verdict is VerdictResult.FAIL


def test_isolation_forest_passes_an_improvement_and_no_change() -> None:
    from aiops.detectors.iforest import IsolationForestJudge

    judge = IsolationForestJudge()
    assert judge.judge_service(_inputs({"a": -0.2, "b": -0.2, "c": -0.2})).verdict is VerdictResult.PASS
    assert judge.judge_service(_inputs({"a": 0.0, "b": 0.0, "c": 0.0})).verdict is VerdictResult.PASS


def test_control_group_takes_out_a_shared_move() -> None:
    rng = np.random.default_rng(12)
    before, after = rng.normal(100, 3, 120), rng.normal(115, 3, 30)
    alone = BeforeAfterJudge().judge(judge_input(before, after, Direction.UP_IS_WORSE, final=True))
    with_fleet = BeforeAfterJudge().judge(
        judge_input(before, after, Direction.UP_IS_WORSE, final=True, control_change=0.15)
    )
    assert (alone.verdict, with_fleet.verdict) == (VerdictResult.FAIL, VerdictResult.PASS)
    assert "net of +15%" in with_fleet.reason


def test_recent_window_catches_a_slow_leak() -> None:
    rng = np.random.default_rng(13)
    before = rng.normal(100, 4, 240)
    ramp = np.minimum(1.0, np.arange(120) / 120.0)  # 0 -> +12 % over the 30-minute window
    after = rng.normal(100, 4, 120) * (1 + 0.12 * ramp)
    data = JudgeInput(
        "m", Direction.UP_IS_WORSE, 0.0, np.arange(240.0) * 15 - 3600, before, np.arange(120.0) * 15, after, final=True
    )
    v = BeforeAfterJudge().judge(data)
    assert v.verdict is VerdictResult.FAIL and "(last 10 min)" in v.reason
