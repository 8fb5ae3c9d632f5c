"""The contract every registered judge keeps (river's way: one suite over the registry).

Whatever a judge is inside, the engine relies on this. A metric judge: an answer for the metric it
was asked about, inconclusive (never a silent pass) without data, a plain regression the worse way
failed at the final look, a clean deploy and an improvement passed. A service judge: inconclusive
(never a fail) without data, clean metrics and an improvement passed, a regression that shows in
several metrics together failed.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from aiops.detectors.base import JudgeInput, MetricJudge, ServiceJudge
from aiops.detectors.counterfactual import fit_counterfactual
from aiops.detectors.registry import JUDGES, SERVICE_JUDGES, make_judge, make_service_judge
from aiops.model import Direction, VerdictResult

HIST = np.arange(-6 * 3600.0, 0.0, 30.0)
AFTER = np.arange(0.0, 1800.0, 30.0)


def metric(
    shift: float, direction: Direction = Direction.UP_IS_WORSE, seed: int = 1, name: str = "latency_ms"
) -> JudgeInput:
    rng = np.random.default_rng(seed)
    history = rng.normal(100.0, 3.0, HIST.size)
    fit = fit_counterfactual(
        HIST, history, {}, deploy_ts=0.0, width=60.0, baseline_bins=60, history_bins=360, post_bins=30
    )
    after = rng.normal(100.0 * (1 + shift), 3.0, AFTER.size)
    return JudgeInput(
        name,
        direction,
        0.0,
        HIST[-120:],
        history[-120:],
        AFTER,
        after,
        final=True,
        counterfactual=fit,
        at=1800.0,
    )


@pytest.fixture(params=sorted(JUDGES))
def judge_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_keeps_the_protocol_the_engine_relies_on(judge_name: str) -> None:
    judge = make_judge(judge_name)
    assert isinstance(judge, MetricJudge) and judge.name == judge_name
    assert judge.recent_window > 0  # the span the engine gives the peers' recent move for


def test_answers_for_the_metric_it_was_asked_about(judge_name: str) -> None:
    verdict = make_judge(judge_name).judge(metric(0.0))
    assert verdict.metric == "latency_ms" and verdict.reason


def test_without_data_is_inconclusive_not_a_pass(judge_name: str) -> None:
    empty = np.empty(0)
    data = JudgeInput("latency_ms", Direction.UP_IS_WORSE, 0.0, empty, empty, empty, empty, final=True, at=1800.0)
    assert make_judge(judge_name).judge(data).verdict is VerdictResult.INCONCLUSIVE


@pytest.mark.parametrize("direction,shift", [(Direction.UP_IS_WORSE, 0.5), (Direction.DOWN_IS_WORSE, -0.5)])
def test_a_plain_regression_fails_the_final_look(judge_name: str, direction: Direction, shift: float) -> None:
    verdict = make_judge(judge_name).judge(metric(shift, direction))
    assert verdict.verdict is VerdictResult.FAIL
    assert verdict.change is not None and verdict.change * shift > 0


@pytest.mark.parametrize("shift", [0.0, -0.4])
def test_a_clean_deploy_and_an_improvement_pass(judge_name: str, shift: float) -> None:
    assert make_judge(judge_name).judge(metric(shift)).verdict is VerdictResult.PASS


@pytest.mark.parametrize("shift", [0.0, 0.1, 0.5])
@pytest.mark.parametrize("final", [False, True])
def test_a_judge_that_reads_no_context_says_the_same_without_it(judge_name: str, shift: float, final: bool) -> None:
    """The engine skips gathering the peers' move and the earlier days at interim looks for a judge
    that says it does not read them (``reads_context``): its verdict must not depend on them."""
    judge = make_judge(judge_name)
    if judge.reads_context:
        pytest.skip(f"{judge_name} reads the peers' move and the earlier days")
    bare = replace(metric(shift), final=final)
    rng = np.random.default_rng(9)
    earlier_day = (rng.normal(80.0, 3.0, 120), rng.normal(140.0, 3.0, 60))  # a day that rose a lot
    with_context = replace(bare, control_change=0.3, control_recent=-0.2, seasonal=(earlier_day,))
    a, b = judge.judge(bare), judge.judge(with_context)
    assert (a.verdict, a.reason, a.p_value, a.change) == (b.verdict, b.reason, b.p_value, b.change)


@pytest.mark.parametrize("final", [False, True])
@pytest.mark.parametrize("direction", [Direction.UP_IS_WORSE, Direction.DOWN_IS_WORSE, Direction.BOTH])
def test_fails_says_what_the_verdict_says(judge_name: str, final: bool, direction: Direction) -> None:
    """``fails`` is the engine's cheap question at interim looks: it must answer as ``judge`` does,
    for regressions of every size, at every point of the window, net of the peers' move or not."""
    judge = make_judge(judge_name)
    answers = set()
    for seed in range(1, 4):
        for shift in (-0.5, -0.12, -0.06, 0.0, 0.04, 0.06, 0.12, 0.5):
            whole = metric(shift, direction, seed=seed)
            for minutes in (2, 4, 9, 16, 30):
                data = replace(whole, final=final, at=minutes * 60.0)
                for netted in (data, replace(data, net_of_control=True, control_change=0.05, control_recent=0.2)):
                    verdict = judge.judge(netted).verdict
                    assert judge.fails(netted) is (verdict is VerdictResult.FAIL), (seed, shift, minutes)
                    answers.add(verdict)
    if judge_name != "kayenta" or final:  # Kayenta answers only when the window closes
        assert VerdictResult.FAIL in answers and VerdictResult.PASS in answers  # both sides were asked


def test_unknown_judge_names_the_choices() -> None:
    with pytest.raises(ValueError, match="unknown judge 'nope': one of before_after, counterfactual, kayenta"):
        make_judge("nope")


# --- service judges: every metric of one look together ------------------------------------------

SERVICE = [
    ("latency_ms", Direction.UP_IS_WORSE),
    ("errors_ratio", Direction.UP_IS_WORSE),
    ("success_rate", Direction.DOWN_IS_WORSE),
]


def service(shift: float) -> list[JudgeInput]:
    """Three metrics of one service, each ``shift`` (relative) the worse way: small for each alone."""
    return [
        metric(shift if direction is Direction.UP_IS_WORSE else -shift, direction, seed=seed, name=name)
        for seed, (name, direction) in enumerate(SERVICE, start=1)
    ]


@pytest.fixture(params=sorted(SERVICE_JUDGES))
def service_judge_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_a_service_judge_keeps_the_protocol(service_judge_name: str) -> None:
    judge = make_service_judge(service_judge_name)
    assert isinstance(judge, ServiceJudge) and judge.name == service_judge_name


def test_a_service_judge_without_data_is_inconclusive_not_a_fail(service_judge_name: str) -> None:
    empty = np.empty(0)
    bare = JudgeInput("latency_ms", Direction.UP_IS_WORSE, 0.0, empty, empty, empty, empty, final=True, at=1800.0)
    judge = make_service_judge(service_judge_name)
    for inputs in ([], [bare, replace(bare, metric="errors_ratio")], service(0.0)[:1]):
        verdict = judge.judge_service(inputs)
        assert verdict.verdict is VerdictResult.INCONCLUSIVE and verdict.reason


@pytest.mark.parametrize("shift", [0.0, -0.04])
def test_a_service_judge_passes_a_clean_deploy_and_an_improvement(service_judge_name: str, shift: float) -> None:
    assert make_service_judge(service_judge_name).judge_service(service(shift)).verdict is VerdictResult.PASS


def test_a_service_judge_fails_a_regression_shown_by_several_metrics_together(service_judge_name: str) -> None:
    verdict = make_service_judge(service_judge_name).judge_service(service(0.04))
    assert verdict.verdict is VerdictResult.FAIL and verdict.reason


def test_unknown_service_judge_names_the_choices() -> None:
    with pytest.raises(ValueError, match="unknown service judge 'nope': one of isolation_forest"):
        make_service_judge("nope")
