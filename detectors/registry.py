"""The judges by name: one setting (``AIOPS_JUDGE``) picks which one the engine asks.

Adding a judge is one entry here; ``tests/test_judge_contract.py`` runs the same contract over
every entry (what any judge must do with no data, a clean deploy, a plain regression and an
improvement), so a new judge is checked the moment it is registered. The judges' modules are
imported when one is made, not when this is: reading the configuration stays light.

>>> sorted(JUDGES)
['before_after', 'counterfactual', 'kayenta']
>>> make_judge("counterfactual").name
'counterfactual'
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # a type only: importing it here would load numpy and scipy with the names
    from aiops.detectors.base import MetricJudge

DEFAULT_JUDGE = "counterfactual"

JUDGES: dict[str, str] = {
    # What the metric would have done without the deploy (own history or tracking peers), judged
    # against how far that guess misses when nothing happened: the default.
    "counterfactual": "aiops.detectors.residual_judge:CounterfactualJudge",
    # The first milestone's judge: a rank test of raw samples, net of the peers' median move.
    # Kept for comparison; it assumes independent samples and a fleet on one daily phase.
    "before_after": "aiops.detectors.judge:BeforeAfterJudge",
    # The reference the benchmarks compare against (Kayenta's default canary judge).
    "kayenta": "aiops.detectors.kayenta:KayentaJudge",
}


def make_judge(name: str) -> MetricJudge:
    """A new judge by its registered name; a clear error naming the choices otherwise."""
    try:
        module, _, cls = JUDGES[name].partition(":")
    except KeyError:
        raise ValueError(f"unknown judge {name!r}: one of {', '.join(sorted(JUDGES))}") from None
    factory: Callable[[], MetricJudge] = getattr(import_module(module), cls)
    return factory()
