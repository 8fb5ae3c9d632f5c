"""The compact store of a series' older part: what it returns, exactly, and where it stops holding."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from aiops.compacted import CompactedSamples
from aiops.history import SeriesHistory

T0 = 1_732_838_400.0  # a UTC midnight, as the engine sees epoch seconds
DAY = 86_400.0


def _filled(interval: float, hours: float, value: float = 0.1) -> SeriesHistory:
    history = SeriesHistory()
    for k in range(int(hours * 3600 / interval)):
        history.add(T0 + k * interval, value * (1 + k % 7))
    return history


def test_compacted_minutes_come_back_as_their_mean_time_and_float32_mean_value() -> None:
    history = _filled(15.0, 2.0)
    history.compact(T0 + 3600.0)
    ts, values = history.window(T0, T0 + 7200.0)
    assert len(history.old) == 60 and len(ts) == 60 + 240
    # Minute m held samples 4m .. 4m + 3: at +0, +15, +30, +45 s, so their mean time is +22.5 s.
    assert ts[:60].tolist() == [T0 + 60 * m + 22.5 for m in range(60)]
    for m in (0, 1, 17, 59):
        mean = sum(0.1 * (1 + k % 7) for k in range(4 * m, 4 * m + 4)) / 4
        assert values[m] == float(np.float32(mean))
        assert abs(values[m] - mean) <= 6e-8 * mean
    # The raw part is untouched: float64, every sample.
    assert ts[60:].tolist() == [T0 + 3600.0 + 15.0 * k for k in range(240)]
    assert values[60:].tolist() == [0.1 * (1 + k % 7) for k in range(240, 480)]


def test_a_window_spanning_both_parts_is_their_concatenation() -> None:
    history = _filled(30.0, 3.0)
    full_ts, full_values = history.ts, history.values
    history.compact(T0 + 7200.0 + 29.0)  # rounded down to the minute
    assert history.compacted_until == T0 + 7200.0
    ts, values = history.ts, history.values
    assert np.all(np.diff(ts) > 0)
    for start, end in [(T0 + 3599.0, T0 + 7300.0), (T0 + 7170.0, T0 + 7230.0), (T0, T0 + 1e6)]:
        got_ts, got_values = history.window(start, end)
        keep = (ts >= start) & (ts <= end)
        assert got_ts.tolist() == ts[keep].tolist() and got_values.tolist() == values[keep].tolist()
        before_ts, _ = history.window_before(start, end)
        assert before_ts.tolist() == ts[(ts >= start) & (ts < end)].tolist()
        # Only the compacted minutes changed: the raw part of the window is the original samples.
        raw = (full_ts >= max(start, T0 + 7200.0)) & (full_ts <= end)
        assert got_values[got_ts >= T0 + 7200.0].tolist() == full_values[raw].tolist()
    # The boundary itself: the last compacted minute's mean is at 7155 s, the first raw sample at 7200 s.
    assert history.window(T0 + 7155.0, T0 + 7200.0)[0].tolist() == [T0 + 7155.0, T0 + 7200.0]
    assert history.window_before(T0 + 7155.0, T0 + 7200.0)[0].tolist() == [T0 + 7155.0]
    near = values[(ts >= T0 + 7125.0) & (ts <= T0 + 7230.0)]
    assert history.median(T0 + 7125.0, T0 + 7230.0) == (float(np.median(near)), 3)


def test_whole_second_bounds_pick_the_same_minutes_as_the_float64_means() -> None:
    """A minute's mean at 15-s (or 20-s) sampling is x.5 (or x.333...) s; kept to the millisecond it
    never crosses a whole second, so windows with whole-second bounds select the same samples."""
    for interval in (15.0, 20.0, 10.0):
        history = _filled(interval, 1.0)
        n = round(60 / interval)
        exact = [T0 + 60 * m + interval * (n - 1) / 2 for m in range(60)]
        history.compact(T0 + 3600.0)
        ts = history.ts
        assert np.max(np.abs(ts - exact)) <= 0.0005
        for bound in np.arange(T0, T0 + 3600.0, 1.0):
            assert history.window(bound, T0 + 3600.0)[0].size == sum(t >= bound for t in exact)
            assert history.window_before(T0, bound)[0].size == sum(t < bound for t in exact)


def test_times_to_the_millisecond_come_back_as_the_same_float() -> None:
    history = SeriesHistory()
    times = [T0 + 300.0 * k + (k * 137 % 1000) / 1000 for k in range(50)]  # 5-min samples, ms stamps
    for k, t in enumerate(times):
        history.add(t, float(k))
    history.compact(T0 + 20 * 3600.0)
    assert len(history.old) == 50
    assert history.ts.tolist() == times


def test_a_late_sample_older_than_the_compaction_goes_into_the_compacted_part_at_its_place() -> None:
    history = _filled(30.0, 2.0)
    history.compact(T0 + 3600.0)
    layout, held = history.layout, len(history)
    assert history.add(T0 + 600.0 + 45.5, 123.25)
    assert history.layout == layout + 1 and len(history) == held + 1 and len(history.old) == 61
    ts, values = history.window(T0 + 600.0, T0 + 720.0)
    assert ts.tolist() == [T0 + 615.0, T0 + 645.5, T0 + 675.0] and values[1] == 123.25
    # Redelivered: the same millisecond and float32 value is a duplicate, and nothing changes.
    assert not history.add(T0 + 600.0 + 45.5, 123.25)
    assert history.layout == layout + 1 and len(history) == held + 1
    # The same time with another value is another sample, after the one held.
    assert history.add(T0 + 645.5, 0.5)
    assert history.window(T0 + 645.5, T0 + 645.5)[1].tolist() == [123.25, 0.5]
    assert np.all(np.diff(history.ts) >= 0)


def test_a_late_sample_between_the_compaction_and_the_first_raw_one_stays_raw() -> None:
    history = _filled(30.0, 2.0)
    history.compact(T0 + 3600.0)
    history.trim(T0 + 3700.0)  # the raw part now starts at 3720 s; compacted_until is still 3600 s
    assert not history.old and history.recent_ts[0] == T0 + 3720.0
    assert history.add(T0 + 3650.0, 7.0) and history.add(T0 + 3500.0, 8.0)
    assert history.recent_ts[0] == T0 + 3650.0 and history.old.times(0, 1).tolist() == [T0 + 3500.0]
    assert history.window(T0, T0 + 3720.0)[1].tolist() == [8.0, 7.0, 0.1 * (1 + 124 % 7)]


def test_trim_drops_compacted_then_raw_samples() -> None:
    history = _filled(30.0, 3.0)
    history.compact(T0 + 7200.0)
    layout = history.layout
    history.trim(T0 + 3600.0)
    assert history.ts[0] == T0 + 3615.0 and len(history.old) == 60 and history.layout == layout + 1
    history.trim(T0 + 7300.0)
    assert not history.old and history.ts[0] == T0 + 7320.0
    history.trim(T0 + 7300.0)
    assert history.layout == layout + 2  # nothing left to cut: no change


def test_moving_window_over_the_compacted_part_sorts_again_after_compaction() -> None:
    from aiops.history import MovingWindow

    history = _filled(30.0, 2.0, value=0.3)
    window = MovingWindow()
    start, end = T0 + 600.0, T0 + 1800.0
    first = history.median(start, end, moving=window)
    history.compact(T0 + 3600.0)  # the window's samples are now minute means, in float32
    again = history.median(start, end, moving=window)
    _, values = history.window(start, end)
    assert again == (float(np.median(values)), len(values)) and len(values) == first[1] // 2
    assert window.values == sorted(values.tolist())


def test_far_apart_times_move_the_origin_without_changing_a_time() -> None:
    old = CompactedSamples()
    first = np.array([T0 + 0.5, T0 + 60.25])
    old.extend(first, np.array([1.0, 2.0]))
    later = np.array([T0 + 30 * DAY + 0.125])  # past int32 milliseconds from the first origin
    old.extend(later, np.array([3.0]))
    assert old.times(0, 3).tolist() == [*first.tolist(), *later.tolist()]
    assert old.values(0, 3).tolist() == [1.0, 2.0, 3.0]
    assert old.insert(T0 + 45.0, 4.0)  # a late one, still in range below the new origin
    assert old.times(0, 4).tolist() == [T0 + 0.5, T0 + 45.0, T0 + 60.25, T0 + 30 * DAY + 0.125]
    assert not old.insert(T0 - 60 * DAY, 5.0)  # far out of range: dropped, not wrapped around
    # More than the 49.7 days an int32 spans: the oldest go.
    old.extend(np.array([T0 + 60 * DAY]), np.array([6.0]))
    assert old.times(0, len(old)).tolist() == [T0 + 30 * DAY + 0.125, T0 + 60 * DAY]
    assert old.count_before(T0 + 30 * DAY + 0.125) == 0 and old.count_until(T0 + 30 * DAY + 0.125) == 1


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(0, 59_999), min_size=1, max_size=40, unique=True),
    st.floats(T0 - 5 * DAY, T0 + 5 * DAY),
)
def test_counts_agree_with_the_times_returned(offsets: list[int], x: float) -> None:
    """count_before/count_until are bisections over exactly the floats that times() returns."""
    old = CompactedSamples()
    ms = sorted(round(T0 * 1000) + 3 * o for o in offsets)
    old.extend(np.array(ms, dtype=np.float64) / 1000.0, np.zeros(len(ms)))
    times = old.times(0, len(old))
    for bound in (x, float(times[0]), float(times[-1]), float(np.nextafter(times[-1], np.inf))):
        assert old.count_before(bound) == int(np.searchsorted(times, bound, side="left"))
        assert old.count_until(bound) == int(np.searchsorted(times, bound, side="right"))


def test_footprint_counts_8_bytes_a_compacted_sample() -> None:
    history = _filled(30.0, 24.0)
    before = history.nbytes()
    history.compact(T0 + 23 * 3600.0)
    after = history.nbytes()
    # 2,760 raw samples (16 bytes) became 1,380 compacted ones (8 bytes): a sixth of what they took.
    assert len(history.old) == 1380
    assert 1380 * 8 <= history.old.nbytes() <= 1380 * 8 * 1.1 + 200
    assert after < before * 0.35
