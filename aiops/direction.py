"""Which way is worse: the one home of the rule, for every judge, the fleet check and the recovery watch.

A metric gets worse by rising (latency, errors), by falling (throughput, success rate), or either way
when nothing says which (:attr:`Direction.BOTH`): then a move the other way is not taken for an
improvement. The direction of a metric is the configured one (``AIOPS_METRIC_DIRECTIONS``), else
read from its name. Pure and light: no numpy, so reading the configuration stays cheap.

>>> metric_direction("http_requests_per_second"), metric_direction("mystery", {"mystery": Direction.UP_IS_WORSE})
(<Direction.DOWN_IS_WORSE: 'down'>, <Direction.UP_IS_WORSE: 'up'>)
>>> [is_worse(d, -0.2) for d in Direction]
[False, True, True]
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Literal, TypeVar

from aiops.model import Direction

if TYPE_CHECKING:  # for the type of toward_worse only: importing numpy here would slow down the CLI
    import numpy as np
    import numpy.typing as npt

__all__ = [
    "Direction",
    "alternative",
    "default_direction",
    "is_worse",
    "metric_direction",
    "parse_overrides",
    "sides",
    "toward_worse",
    "worse_side",
]

# Why name patterns: Prometheus naming conventions put the unit and meaning in the metric name, so
# a name is the best information we have when the user did not configure a direction. The
# down-is-worse words are tried first: "requests_per_second" is no latency although it says second.
_DOWN_IS_WORSE = re.compile(
    r"(throughput|requests?_per|_rps\b|qps|success|availability|apdex|hit_ratio|hit_rate|"
    r"orders|conversions|checkouts|_ok\b|uptime)",
    re.IGNORECASE,
)
_UP_IS_WORSE = re.compile(
    r"(latency|duration|_seconds|_ms\b|error|fail|5xx|4xx|timeout|cpu|memory|mem_|heap|gc_|queue|miss|"
    r"lag|saturation|restarts|drops|retries|rejected|p9|p50|utili[sz]ation|load)",
    re.IGNORECASE,
)

# A float, or a numpy array of them (the multivariate judge orients whole columns at once).
Signed = TypeVar("Signed", float, "npt.NDArray[np.float64]")


def default_direction(metric: str) -> Direction:
    """Which way ``metric`` moves when things get worse, read from its name alone.

    >>> default_direction("p99_latency_ms"), default_direction("cache_hit_ratio"), default_direction("temperature")
    (<Direction.UP_IS_WORSE: 'up'>, <Direction.DOWN_IS_WORSE: 'down'>, <Direction.BOTH: 'both'>)
    """
    if _DOWN_IS_WORSE.search(metric):
        return Direction.DOWN_IS_WORSE
    if _UP_IS_WORSE.search(metric):
        return Direction.UP_IS_WORSE
    return Direction.BOTH


def metric_direction(metric: str, overrides: Mapping[str, Direction] | None = None) -> Direction:
    """The configured direction of ``metric`` (``overrides``, by exact name), else its name's."""
    if overrides and metric in overrides:
        return overrides[metric]
    return default_direction(metric)


def parse_overrides(text: str) -> dict[str, Direction]:
    """``AIOPS_METRIC_DIRECTIONS``: comma-separated ``metric=up|down|both``; a ValueError names the
    entry that is not.

    >>> parse_overrides("queue_depth=down, temperature = up")
    {'queue_depth': <Direction.DOWN_IS_WORSE: 'down'>, 'temperature': <Direction.UP_IS_WORSE: 'up'>}
    >>> parse_overrides("queue_depth")
    Traceback (most recent call last):
    ...
    ValueError: 'queue_depth' must be metric=up|down|both
    """
    overrides = {}
    for item in filter(None, (p.strip() for p in text.split(","))):
        metric, _, way = item.partition("=")
        try:
            overrides[metric.strip()] = Direction(way.strip())
        except ValueError:
            raise ValueError(f"{item!r} must be metric=up|down|both") from None
    return overrides


def toward_worse(direction: Direction, change: Signed) -> Signed:
    """``change`` measured the worse way: positive is worse, negative better; for a metric that gets
    worse either way, its size (no move is better than none).

    >>> toward_worse(Direction.UP_IS_WORSE, -2.0), toward_worse(Direction.DOWN_IS_WORSE, -2.0)
    (-2.0, 2.0)
    >>> toward_worse(Direction.BOTH, -2.0)
    2.0
    """
    if direction is Direction.UP_IS_WORSE:
        return change
    if direction is Direction.DOWN_IS_WORSE:
        return -change
    return abs(change)


def is_worse(direction: Direction, change: float) -> bool:
    """Is a signed ``change`` (after minus before, in any unit) a change for the worse?

    >>> is_worse(Direction.UP_IS_WORSE, 0.3), is_worse(Direction.DOWN_IS_WORSE, 0.3), is_worse(Direction.BOTH, 0.0)
    (True, False, False)
    """
    return toward_worse(direction, change) > 0


def worse_side(direction: Direction, change: float) -> float:
    """Which side of the baseline is the worse one, +1.0 (above) or -1.0 (below), for a metric that
    moved by ``change``; for one worse either way, the side it moved to (0.0 when it did not move).

    >>> worse_side(Direction.DOWN_IS_WORSE, 5.0), worse_side(Direction.BOTH, -5.0), worse_side(Direction.BOTH, 0.0)
    (-1.0, -1.0, 0.0)
    """
    if direction is Direction.UP_IS_WORSE:
        return 1.0
    if direction is Direction.DOWN_IS_WORSE:
        return -1.0
    return 1.0 if change > 0 else -1.0 if change < 0 else 0.0


def sides(direction: Direction) -> int:
    """How many ways the metric can get worse: the tails of a test for "worse" (1, or 2 for BOTH)."""
    return 2 if direction is Direction.BOTH else 1


def alternative(direction: Direction) -> Literal["greater", "less", "two-sided"]:
    """The alternative hypothesis of a rank test of after against before that looks for "worse"."""
    if direction is Direction.UP_IS_WORSE:
        return "greater"
    if direction is Direction.DOWN_IS_WORSE:
        return "less"
    return "two-sided"
