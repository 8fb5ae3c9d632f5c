"""The contract every registered judge keeps (river's way: one suite over the registry).

Whatever a judge is inside, the engine relies on this: an answer for the metric it was asked about,
inconclusive (never a silent pass) without data, a plain regression the worse way failed at the
final look, a clean deploy and an improvement passed.
"""

from __future__ import annotations

import numpy as np
import pytest

from aiops.detectors.base import JudgeInput
from aiops.detectors.counterfactual import fit_counterfactual
from aiops.detectors.registry import JUDGES, make_judge
from aiops.model import Direction, VerdictResult

HIST = np.arange(-6 * 3600.0, 0.0, 30.0)
AFTER = np.arange(0.0, 1800.0, 30.0)


def metric(shift: float, direction: Direction = Direction.UP_IS_WORSE, seed: int = 1) -> JudgeInput:
    rng = np.random.default_rng(seed)
    history = rng.normal(100.0, 3.0, HIST.size)
    fit = fit_counterfactual(
        HIST, history, {}, deploy_ts=0.0, width=60.0, baseline_bins=60, history_bins=360, post_bins=30
    )
    after = rng.normal(100.0 * (1 + shift), 3.0, AFTER.size)
    return JudgeInput(
        "latency_ms",
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


def test_unknown_judge_names_the_choices() -> None:
    with pytest.raises(ValueError, match="unknown judge 'nope': one of before_after, counterfactual, kayenta"):
        make_judge("nope")
