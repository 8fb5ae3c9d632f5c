"""Rollups (aiops.rollups): the peers are read per minute, from minutes the looks' horizon has passed."""

from __future__ import annotations

import math

import numpy as np
from fleets import T0, deploy, in_time_order, make_engine, service_samples

from aiops.history import FleetHistory
from aiops.model import EXPECTED_SUFFIX, MetricSample
from aiops.rollups import minute_means


def test_minute_means_hold_count_mean_time_and_mean_value_of_each_minute() -> None:
    ts = np.array([0.0, 20.0, 40.0, 60.0, 200.0, 210.0])
    mean_ts, means, counts = minute_means(ts, np.array([1.0, 2.0, 6.0, 4.0, 10.0, 20.0]))
    assert mean_ts.tolist() == [20.0, 60.0, 205.0]
    assert means.tolist() == [3.0, 4.0, 15.0]
    assert counts.tolist() == [3, 1, 2]


def test_a_slow_metric_keeps_its_own_sample_times() -> None:
    ts = np.arange(0.0, 3000.0, 300.0) + 17.0
    mean_ts, means, counts = minute_means(ts, ts * 2)
    assert mean_ts.tolist() == ts.tolist() and means.tolist() == (ts * 2).tolist() and set(counts.tolist()) == {1}


def test_the_engine_rolls_up_only_whole_minutes_its_looks_have_passed() -> None:
    """A look at checkpoint c runs once the watermark passes c + lateness: every minute that ends
    by then is rolled up; the minute still open is not, and a sample later than the lateness into
    a rolled-up minute stays out of it (in a replay and a consumer alike)."""
    engine = make_engine()
    at = T0 + 3600.0
    samples = [*service_samples("api", minutes=67), *service_samples("web", minutes=67)]
    records = in_time_order([*samples, deploy("web", at)])
    engine.process(records)
    rolled = engine.rollups.series[("api", "http_request_duration_seconds_p99")]
    raw = engine.history.series[("api", "http_request_duration_seconds_p99")]
    horizon = engine.looked_until
    assert horizon >= at  # the deploy's first looks ran
    minutes = np.floor(rolled.ts / 60.0)
    assert len(np.unique(minutes)) == len(minutes)  # one sample a minute
    assert rolled.ts[-1] < np.floor(horizon / 60.0) * 60.0  # no minute past the looks' horizon
    first = raw.ts < np.floor(rolled.ts[-1] / 60.0) * 60.0 + 60.0
    expected_ts, expected, _ = minute_means(raw.ts[first], raw.values[first])
    # (summed in another order than minute_means does: equal to the last bits)
    assert np.allclose(rolled.ts, expected_ts, rtol=1e-15, atol=0.0) and np.allclose(
        rolled.values, expected, rtol=1e-14
    )

    # A sample for a rolled-up minute, arriving now: in its own series, not in the rollup.
    late = float(rolled.ts[-1])
    before = rolled.values.tolist()
    engine.process([MetricSample("api", "http_request_duration_seconds_p99", late + 1.0, 1e6)])
    assert 1e6 in raw.values.tolist()
    assert engine.rollups.series[("api", "http_request_duration_seconds_p99")].values.tolist()[: len(before)] == before


def test_a_peers_minutes_are_its_bins_so_rollups_fit_as_its_raw_samples_do() -> None:
    """The counterfactual's minute bins lie on the wall clock's minutes (from the first whole minute
    after the deploy), as the rollups do: regressed on rolled-up peers it expects exactly what it
    expects regressed on their raw samples, for a deploy at any second."""
    at = T0 + 150 * 60 + 17.0  # not on a whole minute
    ts = T0 + np.arange(0.0, 200 * 60, 15.0)
    rng = np.random.default_rng(7)
    shared = 1 + 0.2 * np.sin(2 * np.pi * (ts - T0) / 7200) + rng.normal(0, 0.03, len(ts))  # the fleet's traffic
    fleet = [
        MetricSample(name, "http_request_duration_seconds_p99", float(t), float(v))
        for i, name in enumerate(("api", "b", "c", "d"))
        for t, v in zip(ts, (0.2 + 0.05 * i) * shared * (1 + rng.normal(0, 0.01, len(ts))), strict=True)
    ]
    engine = make_engine()
    engine.process(in_time_order([*fleet, deploy("api", at)]))
    metric = "http_request_duration_seconds_p99"
    rolled = engine.evidence.fit("api", metric, at, at + 600, peers=True)
    engine.evidence.peers_view = engine.history  # the same peers, read raw
    engine.evidence.release(deploy("api", at))
    raw = engine.evidence.fit("api", metric, at, at + 600, peers=True)
    assert rolled is not None and raw is not None
    assert rolled.deploy_ts == math.ceil(at / 60.0) * 60.0
    assert rolled.model == raw.model == "peers" and rolled.peer_names == raw.peer_names
    assert np.allclose(rolled.expected(np.arange(30), None), raw.expected(np.arange(30), None))


def test_the_plot_leaves_the_deploys_part_minute_out_of_the_expected_baseline() -> None:
    """Minute bins start at the first whole minute after the deploy; the samples before that whole
    minute but after the deploy are in neither side, and the plot's expected line does not draw
    them as the baseline's last minute (a bump before the deploy)."""
    at = T0 + 90 * 60  # T0 is 40 s past a whole minute
    assert at % 60
    records = in_time_order([*service_samples("api", shift_at=at, shift=0.5), deploy("api", at)])
    engine = make_engine()
    out = engine.process(records)
    out.extend(engine.finish())
    (incident,) = [i for i in out.incidents if i.deployment_id == "api-v2"]
    expected = {name: (ts, vs) for name, ts, vs in incident.series}[
        f"http_request_duration_seconds_p99 {EXPECTED_SUFFIX}"
    ]
    before = [v for t, v in zip(*expected, strict=True) if t < at]
    assert before and max(before) < 0.2 * 1.1  # the baseline level, not lifted by the step


def test_a_minute_rolled_up_alone_or_among_many_gets_the_same_bits() -> None:
    """A replay rolls up many minutes in one call where a consumer rolls up one at a time (other
    batches): each minute's sum must not depend on what else the call holds."""
    rng = np.random.default_rng(3)
    whole, by_minute, source = FleetHistory(), FleetHistory(), FleetHistory()
    for name in ("a", "b", "c"):
        ts = np.cumsum(rng.uniform(0.5, 9.0, 2000))
        for t, v in zip(ts.tolist(), rng.normal(1e6, 1e3, len(ts)).tolist(), strict=True):
            source.add_sample(name, "m", t, v)
    end = np.floor(min(s.ts[-1] for s in source.series.values()) / 60.0) * 60.0
    source.roll_up(whole, float("-inf"), end)
    start = float("-inf")
    for m in np.arange(60.0, end + 1.0, 60.0).tolist():
        source.roll_up(by_minute, start, m)
        start = m
    for key in source.series:
        assert whole.series[key].ts.tolist() == by_minute.series[key].ts.tolist()
        assert whole.series[key].values.tolist() == by_minute.series[key].values.tolist()
