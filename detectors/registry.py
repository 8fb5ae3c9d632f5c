"""The judges by name: one setting picks which one the engine asks, per metric and per service.

``AIOPS_JUDGE`` names the metric judge (:data:`JUDGES`), which decides every metric at every look;
``AIOPS_SERVICE_JUDGE`` (or ``AIOPS_MULTIVARIATE=on``) names the optional service judge
(:data:`SERVICE_JUDGES`), which looks at all of a service's metrics together at the final look.
``aiops.pipeline.build_engine`` makes both and hands them to the engine.

Adding a judge is one entry here; ``tests/test_judge_contract.py`` runs the same contract over
every entry (what any judge must do with no data, a clean deploy and a plain regression), so a new
judge is checked the moment it is registered. The judges' modules are imported when one is made,
not when this is: reading the configuration stays light.

>>> sorted(JUDGES), sorted(SERVICE_JUDGES)
(['before_after', 'counterfactual', 'kayenta'], ['isolation_forest'])
>>> make_judge("counterfactual").name, make_service_judge("isolation_forest").name
('counterfactual', 'isolation_forest')
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # types only: importing them here would load numpy and scipy with the names
    from aiops.detectors.base import MetricJudge, ServiceJudge

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

# None by default: on the benchmark families with autocorrelated noise the isolation forest failed
# 2-7 % of good deploys for a few points of recall (BENCHMARKS.md); a gate that blocks good releases
# costs more.
SERVICE_JUDGES: dict[str, str] = {
    # An isolation forest over the service's misses from their counterfactuals (AIOPS_MULTIVARIATE=on).
    "isolation_forest": "aiops.detectors.iforest:IsolationForestJudge",
}
MULTIVARIATE_JUDGE = "isolation_forest"  # what the older flag AIOPS_MULTIVARIATE=on picks


def make_judge(name: str) -> MetricJudge:
    """A new metric judge by its registered name; a clear error naming the choices otherwise."""
    factory: Callable[[], MetricJudge] = _class(JUDGES, name, "judge")
    return factory()


def make_service_judge(name: str) -> ServiceJudge:
    """A new service judge by its registered name; a clear error naming the choices otherwise."""
    factory: Callable[[], ServiceJudge] = _class(SERVICE_JUDGES, name, "service judge")
    return factory()


def _class(table: Mapping[str, str], name: str, kind: str) -> Any:
    try:
        module, _, cls = table[name].partition(":")
    except KeyError:
        raise ValueError(f"unknown {kind} {name!r}: one of {', '.join(sorted(table))}") from None
    return getattr(import_module(module), cls)
