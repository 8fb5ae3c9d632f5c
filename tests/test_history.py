"""SeriesHistory and the moving sorted window the control group reads peers through."""

from __future__ import annotations

import statistics

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from aiops.history import FleetHistory, MovingWindow, SeriesHistory

# One step of a stream: append a sample, insert a late one, trim the oldest, compact the older part,
# or take a look at a window that moves forward (a growing one from a fixed start, or a trailing one).
_steps = st.lists(
    st.one_of(
        st.tuples(st.just("append"), st.floats(0.0, 20.0), st.integers(-5, 5)),
        st.tuples(st.just("late"), st.floats(0.0, 60.0), st.integers(-5, 5)),
        st.tuples(st.just("trim"), st.floats(0.0, 30.0), st.integers(0, 0)),
        st.tuples(st.just("compact"), st.floats(0.0, 120.0), st.integers(0, 0)),
        st.tuples(st.just("look"), st.floats(0.0, 50.0), st.integers(0, 1)),
    ),
    min_size=1,
    max_size=120,
)


@settings(max_examples=300, deadline=None)
@given(_steps)
def test_moving_window_median_equals_a_fresh_sort(steps: list[tuple[str, float, int]]) -> None:
    """Whatever happened to the series between looks, the kept window gives the median of a fresh sort."""
    history = SeriesHistory()
    growing, trailing = MovingWindow(), MovingWindow()
    now = 0.0
    looks = 0
    for kind, x, k in steps:
        if kind == "append":
            now += x
            history.add(now, float(k))
        elif kind == "late":
            history.add(max(0.0, now - x), float(k))  # out of order, or a duplicate of one held
        elif kind == "trim":
            history.trim(now - 100.0 - x)
        elif kind == "compact":
            history.compact(now - x)
        else:
            now += x
            start, window = (0.0, growing) if k == 0 else (now - 25.0, trailing)
            got = history.median(start, now, moving=window)
            expected = [v for t, v in zip(history.ts, history.values, strict=True) if start <= t <= now]
            assert got[1] == len(expected)
            if expected:
                assert got[0] == statistics.median(expected)
                assert window.values == sorted(expected)
            looks += 1
    assert list(history.ts) == sorted(history.ts)


def test_moving_window_slides_instead_of_sorting_again() -> None:
    history = SeriesHistory()
    for t in range(100):
        history.add(float(t), float(t % 10))
    window = MovingWindow()
    assert history.median(10.0, 50.0, moving=window) == (4.0, 41)
    kept = window.values
    assert history.median(12.0, 55.0, moving=window) == (4.0, 44)
    assert window.values is kept  # updated in place: 2 left, 5 entered
    history.add(30.5, 100.0)  # a late sample moves every later index: the next look sorts afresh
    expected = sorted([float(t % 10) for t in range(12, 56)] + [100.0])
    assert history.median(12.0, 55.0, moving=window) == (expected[22], 45)
    assert window.values is not kept and window.values == expected


def test_duplicate_redelivery_changes_nothing() -> None:
    history = SeriesHistory()
    assert history.add(1.0, 5.0) and history.add(2.0, 6.0)
    layout = history.layout
    assert not history.add(1.0, 5.0)
    assert history.layout == layout and list(history.values) == [5.0, 6.0]


def test_compact_keeps_a_minute_mean_and_leaves_recent_samples_alone() -> None:
    history = SeriesHistory()
    for k in range(240):  # two hours at 30 s
        history.add(k * 30.0 + 5.0, float(k % 7))
    recent = [(t, v) for t, v in zip(history.ts, history.values, strict=True) if t >= 3600.0]
    layout = history.layout
    history.compact(3600.0 + 20.0)  # rounded down to the minute: 3600
    old = [(t, v) for t, v in zip(history.ts, history.values, strict=True) if t < 3600.0]
    assert len(old) == 60 and history.layout == layout + 1
    # Minute m held samples k = 2m and 2m + 1: their mean time and mean value.
    assert old[10] == (10 * 60.0 + 20.0, ((20 % 7) + (21 % 7)) / 2)
    assert [(t, v) for t, v in zip(history.ts, history.values, strict=True) if t >= 3600.0] == recent
    assert list(history.ts) == sorted(history.ts)
    # Merged once: the same call again, or an earlier one, changes nothing.
    before = (list(history.ts), list(history.values))
    history.compact(3600.0)
    history.compact(1800.0)
    assert (list(history.ts), list(history.values)) == before and history.layout == layout + 1


def test_compact_leaves_slow_metrics_as_they_are() -> None:
    history = SeriesHistory()
    for k in range(100):
        history.add(k * 300.0, float(k))
    layout, ts, values = history.layout, history.ts.tolist(), history.values.tolist()
    history.compact(20_000.0)
    assert len(history.old) == 67  # moved to the compact store, one for one
    assert history.ts.tolist() == ts and history.values.tolist() == values
    # Their values are float32 now (these happen to be exact): a kept sorted window must sort again.
    assert history.layout == layout + 1


def test_a_series_evicted_and_started_again_is_not_read_through_the_old_sorted_window() -> None:
    fleet = FleetHistory()
    for t in range(10):
        fleet.add_sample("api", "latency", float(t), 1.0)
    window = MovingWindow()
    assert fleet.median("api", "latency", 0.0, 9.0, moving=window) == (1.0, 10)
    fleet.trim(100.0)  # idle since 9 s: evicted
    assert ("api", "latency") not in fleet.series and fleet.services_with("latency") == []
    for t in range(100, 110):  # the same indices and layout count in a new series
        fleet.add_sample("api", "latency", float(t), 5.0)
    assert fleet.median("api", "latency", 100.0, 109.0, moving=window) == (5.0, 10)
    assert window.values == [5.0] * 10


_batches = st.lists(
    st.lists(st.tuples(st.floats(-30.0, 30.0), st.integers(-3, 3)), min_size=0, max_size=8),
    min_size=1,
    max_size=12,
)


@settings(max_examples=200, deadline=None)
@given(_batches, st.floats(0.0, 200.0))
def test_extend_holds_what_add_one_by_one_holds(batches: list[list[tuple[float, int]]], compact_at: float) -> None:
    """Batches in order, overlapping, late or duplicated: extend ends where add one by one ends."""
    one, many = SeriesHistory(), SeriesHistory()
    now = 0.0
    for k, batch in enumerate(batches):
        times = [now + step for step, _ in batch]
        if k % 2:  # every other batch in time order: the fast path
            times.sort()
        values = [float(v) for _, v in batch]
        added = sum(one.add(t, v) for t, v in zip(times, values, strict=True))
        assert many.extend(np.array(times), np.array(values)) == added
        now = max([now, *times])
        if k == len(batches) // 2:
            one.compact(compact_at)
            many.compact(compact_at)
    assert one.ts.tolist() == many.ts.tolist() and one.values.tolist() == many.values.tolist()
    # Appends in order keep every index; anything else changed the layout as add did.
    assert one.layout == many.layout
