"""The fleet families of benchmarks/fleets.py and their benchmark, on tiny fleets (seconds).

A benchmark is only as honest as its fleets: these tests pin what each family promises (time order,
truth that names real deploy events, own daily phases, autocorrelated noise, deploys away from
NAB's labelled anomalies, metric names the engine reads the right way round).
"""

from __future__ import annotations

import doctest
import math
from collections.abc import Mapping
from dataclasses import replace

import numpy as np
import pytest
from fleets import make_engine

from aiops.direction import metric_direction
from aiops.engine import Engine, EngineConfig
from aiops.eval.simulate import METRICS, Fleet
from aiops.model import Direction, Effects, MetricVerdict, Verdict, VerdictResult
from benchmarks import fleets as fleets_module
from benchmarks.deploy_families import (
    blamed_for_fleet_metric,
    caught_by_shape,
    default_engine,
    format_row,
    load_factory,
    run_families,
    with_windows,
)
from benchmarks.fleets import (
    FAMILIES,
    LATENCY,
    NAB_DOWN_IS_WORSE,
    NAB_METRICS,
    PHASES,
    NabSpec,
    nab_dir,
    nab_fleet,
    nab_windows,
    read_nab,
    synth_fleet,
)

SMALL = 0.05
NAB = nab_dir()
needs_nab = pytest.mark.skipif(NAB is None, reason="NAB data (shared/data/nab) not found; set AIOPS_NAB_DIR")


def _samples(fleet: Fleet) -> dict[tuple[str, str], tuple[np.ndarray, np.ndarray]]:
    out: dict[tuple[str, str], tuple[list[float], list[float]]] = {}
    for e in fleet.events:
        if "type" not in e:
            ts, vs = out.setdefault((e["service"], e["metric"]), ([], []))
            ts.append(e["ts"])
            vs.append(e["value"])
    return {k: (np.array(a), np.array(b)) for k, (a, b) in out.items()}


@pytest.mark.parametrize("name", [n for n in FAMILIES if n != "nab-real" or NAB is not None])
def test_family_events_are_time_ordered_and_truth_names_the_deploys(name: str) -> None:
    fleet = FAMILIES[name].build(1, SMALL)
    assert fleet.truth, "a family with no deploys measures nothing"
    ts = [e["ts"] for e in fleet.events]
    assert ts == sorted(ts)
    deploys = [e for e in fleet.events if e.get("type") == "deploy"]
    assert sorted(d["id"] for d in deploys) == sorted(t["id"] for t in fleet.truth)
    assert len({d["id"] for d in deploys}) == len(deploys)
    by_id = {t["id"]: t for t in fleet.truth}
    for d in deploys:
        row = by_id[d["id"]]
        assert (d["service"], d["version"], d["ts"], d["environment"]) == (
            row["service"],
            row["version"],
            row["ts"],
            "prod",
        )
    rollbacks = {e["id"] for e in fleet.events if e.get("type") == "rollback"}
    assert rollbacks == {t["id"] + "-rollback" for t in fleet.truth if t.get("rollback_at") is not None}
    assert {t["bad"] for t in fleet.truth} == {True, False} or len(fleet.truth) < 4
    for row in fleet.truth:
        assert set(row) >= {"id", "service", "version", "ts", "bad", "fleet", "shape", "effect", "metrics"}
        assert (row["shape"] is not None) == row["bad"] == (row["effect"] > 0) == bool(row["metrics"])
    samples = [e for e in fleet.events if "type" not in e]
    assert all(set(e) == {"service", "metric", "ts", "value"} for e in samples)
    assert all(math.isfinite(e["value"]) for e in samples)
    if name != "simulate-hard":  # aiops.eval.simulate's spikes on a request rate go below zero; ours divide
        assert all(e["value"] >= 0 for e in samples)


def test_same_seed_same_fleet_other_seed_or_family_other_fleet() -> None:
    a, b = FAMILIES["phases"].build(3, SMALL), FAMILIES["phases"].build(3, SMALL)
    assert a.events == b.events and a.truth == b.truth
    assert FAMILIES["phases"].build(4, SMALL).events != a.events
    assert FAMILIES["phases-small"].build(3, SMALL).events != a.events


def test_phases_services_peak_at_their_own_hours() -> None:
    """The judge's shared-phase assumption (issue 11, cause 1) must be broken by this family."""
    fleet = synth_fleet(replace(PHASES, services=8, hours=24.0, deploys_per_service=1), 1, "phases")
    peaks = []
    for (_svc, metric), (_ts, vs) in _samples(fleet).items():
        if metric == "http_requests_per_second":
            hourly = vs[: len(vs) // 24 * 24].reshape(24, -1).mean(axis=1)
            peaks.append(int(np.argmax(hourly)))
    assert len(set(peaks)) >= 4, peaks


def test_phases_noise_is_autocorrelated() -> None:
    """Scrape-to-scrape noise is alike (issue 11, cause 2): lag-1 autocorrelation of the residual."""
    fleet = synth_fleet(replace(PHASES, services=4, hours=6.0, deploys_per_service=0), 2, "phases")
    acs = []
    for (_svc, _metric), (_ts, vs) in _samples(fleet).items():
        resid = vs - np.convolve(vs, np.ones(61) / 61, mode="same")
        r = resid[60:-60]
        acs.append(float(np.corrcoef(r[:-1], r[1:])[0, 1]))
    assert float(np.median(acs)) > 0.2, acs


def test_bad_step_makes_its_metric_worse() -> None:
    spec = replace(PHASES, services=6, hours=12.0, deploys_per_service=2, bad_share=0.5)
    fleet = synth_fleet(spec, 5, "phases")
    series = _samples(fleet)
    signs = {m[0]: m[3] for m in METRICS}
    checked = 0
    previous: dict[str, dict[str, object]] = {}
    for row in fleet.truth:
        # The service's previous regression ends at this release (its fix): look only where none was on.
        earlier, previous[row["service"]] = previous.get(row["service"]), row
        if not row["bad"] or (earlier and earlier["bad"]):
            continue
        for metric in row["metrics"]:
            ts, vs = series[(row["service"], metric)]
            before = np.median(vs[(ts >= row["ts"] - 600) & (ts < row["ts"])])
            after = np.median(vs[(ts >= row["ts"]) & (ts < row["ts"] + 600)])
            assert (after / before - 1) * signs[metric] > 0.1, (row, metric, before, after)
            checked += 1
    assert checked >= 2


def test_fleet_incident_hits_every_service_after_an_innocent_deploy() -> None:
    fleet = FAMILIES["fleet-incidents"].build(2, 0.2)
    marked = [t for t in fleet.truth if t["fleet"]]
    assert marked and not any(t["bad"] for t in marked)
    series = _samples(fleet)
    services = {s for s, _ in series}
    # At least one marked deploy has latency up on (nearly) every service within its window.
    best = 0
    for row in marked:
        up = 0
        for svc in services:
            ts, vs = series[(svc, LATENCY)]
            before = np.median(vs[(ts >= row["ts"] - 900) & (ts < row["ts"])])
            after = np.median(vs[(ts >= row["ts"] + 600) & (ts < row["ts"] + 1200)])
            up += after > 1.25 * before
        best = max(best, up)
    assert best >= len(services) - 1


def test_weekly_has_innocent_shifts_no_deploy_explains() -> None:
    """Level shifts with no deploy behind them: a large move far from any deploy of its service."""
    fleet = FAMILIES["weekly"].build(1, 0.3)
    deploys: dict[str, list[float]] = {}
    for t in fleet.truth:
        deploys.setdefault(t["service"], []).append(t["ts"])
    found = 0
    for (svc, _metric), (ts, vs) in _samples(fleet).items():
        med = np.convolve(vs, np.ones(15) / 15, mode="same")
        jump = np.abs(med[30:] / med[:-30] - 1)
        far = np.array([all(abs(x - d) > 3600 for d in deploys.get(svc, [])) for x in ts[30:]])
        found += bool(np.any((jump > 0.3) & far))
    assert found >= 3


@needs_nab
def test_nab_deploys_are_at_least_6h_from_labelled_windows_and_covered_by_data() -> None:
    assert NAB is not None
    spec = NabSpec()
    fleet = nab_fleet(spec, 1, NAB)
    labels = nab_windows(NAB)
    by_service = {}
    for name in spec.files:
        by_service[name.split("/")[1].removesuffix(".csv").lower().replace("_", "-")] = name
    assert {t["service"] for t in fleet.truth} <= set(by_service)
    assert len(fleet.truth) >= 40 and sum(t["bad"] for t in fleet.truth) >= 10
    for row in fleet.truth:
        for a, b in labels[by_service[row["service"]]]:
            assert row["ts"] <= a - 6 * 3600 or row["ts"] >= b + 6 * 3600, (row, a, b)
    series = _samples(fleet)
    for row in fleet.truth:
        ((ts, _vs),) = [v for (s, _m), v in series.items() if s == row["service"]]
        around = ts[(ts >= row["ts"] - 6 * 3600) & (ts <= row["ts"] + 3 * 3600)]
        assert np.max(np.diff(around)) <= 900


@needs_nab
def test_nab_metric_names_read_the_right_way_round_and_bad_deploys_go_that_way() -> None:
    assert NAB is not None
    for metric in set(NAB_METRICS.values()):
        want = Direction.DOWN_IS_WORSE if metric in NAB_DOWN_IS_WORSE else Direction.UP_IS_WORSE
        assert metric_direction(metric) is want, metric
    spec = NabSpec(
        files=("realAWSCloudwatch/elb_request_count_8c0756.csv", "realAWSCloudwatch/ec2_cpu_utilization_24ae8d.csv")
    )
    fleet = nab_fleet(spec, 2, NAB)
    series = _samples(fleet)
    moved = 0
    for name in spec.files:
        raw_ts, raw = read_nab(NAB, name)
        svc = name.split("/")[1].removesuffix(".csv").lower().replace("_", "-")
        ((ts, vs),) = [v for (s, _m), v in series.items() if s == svc]
        assert np.array_equal(ts, raw_ts), "real timestamps are kept"
        ratio = vs / np.where(raw == 0, 1, raw)
        for row in (t for t in fleet.truth if t["service"] == svc):
            after = ratio[(ts >= row["ts"] + 3600) & (ts < row["ts"] + 7200)]
            sign = -1 if NAB_METRICS[name] in NAB_DOWN_IS_WORSE else 1
            if row["bad"]:
                assert np.all((after - 1) * sign > 0.05), row
                moved += 1
            else:  # a good release leaves the series as recorded (an earlier regression ends with it)
                assert np.allclose(after, 1.0), row
    assert moved >= 1


def test_run_families_pools_seeds_and_uses_the_engine_factory() -> None:
    calls: list[tuple[str, dict[str, float]]] = []

    def factory(judge: str, windows: Mapping[str, float]) -> Engine:
        calls.append((judge, dict(windows)))
        return make_engine(with_windows(EngineConfig(), windows))

    rows = run_families(["phases", "sampling-5min"], [1, 2], engine_factory=factory, judges=["mine"], scale=SMALL)
    assert [(r.family, r.windows) for r in rows] == [
        ("phases", "default"),
        ("sampling-5min", "default"),
        ("sampling-5min", "5min-windows"),
    ]
    assert len(calls) == 2 * 3 and ("mine", {}) in calls
    assert any(w.get("analysis_window") == 7200 for _, w in calls)
    for r in rows:
        truth = sum(len(FAMILIES[r.family].build(s, SMALL).truth) for s in (1, 2))
        assert r.tp + r.fn == r.bad and r.tp + r.fp + r.fn + r.tn == r.deploys >= truth
        assert 0.0 <= r.false_fail_rate <= 1.0 and len(r.per_seed) == 2
        assert r.family in format_row(r)


def test_bad_deploys_are_counted_by_shape_and_effect_size() -> None:
    truth = [
        {"id": "a", "bad": True, "shape": "leak", "effect": 0.10, "ts": 0.0},
        {"id": "b", "bad": True, "shape": "leak", "effect": 0.11, "ts": 0.0},
        {"id": "c", "bad": True, "shape": "step", "effect": 0.30, "ts": 0.0},
        {"id": "d", "bad": False, "shape": None, "effect": 0.0, "ts": 0.0},
    ]
    fail = [Verdict(dep, "svc", VerdictResult.FAIL, 0.0, 300.0) for dep in ("b", "c", "d")]
    effects = Effects(verdicts=[Verdict("a", "svc", VerdictResult.PASS, 0.0, 1800.0), *fail])
    assert caught_by_shape(Fleet([], truth), effects) == {"leak <12%": (2, 1, [5.0]), "step 20-40%": (1, 1, [5.0])}
    rows = run_families(["phases-small"], [1], judges=["aiops"], scale=SMALL)
    pooled = rows[0].by_shape
    assert sum(b for b, _, _ in pooled.values()) == rows[0].bad
    assert sum(c for _, c, _ in pooled.values()) == rows[0].tp
    assert {k.split()[0] for k in pooled} <= {"step", "ramp", "leak"}


def test_fleet_metric_blame_counts_only_fails_on_the_metric_the_incident_moved() -> None:
    truth = [
        {"id": "a", "bad": False, "fleet": True, "fleet_metrics": [LATENCY], "ts": 0.0},
        {"id": "b", "bad": False, "fleet": True, "fleet_metrics": [LATENCY], "ts": 0.0},
        {"id": "c", "bad": False, "fleet": False, "ts": 0.0},
    ]

    def verdict(dep: str, metric: str) -> Verdict:
        failed = MetricVerdict(metric=metric, verdict=VerdictResult.FAIL)
        return Verdict(dep, "svc", VerdictResult.FAIL, 0.0, 60.0, metrics=(failed,))

    effects = Effects(verdicts=[verdict("a", LATENCY), verdict("b", "cpu_utilization"), verdict("c", LATENCY)])
    assert blamed_for_fleet_metric(Fleet([], truth), effects) == 1


def test_fleets_docstring_example_runs() -> None:
    """benchmarks/ is outside pytest's doctest paths: run its example here."""
    assert doctest.testmod(fleets_module).attempted >= 2
    assert doctest.testmod(fleets_module).failed == 0


def test_cli_engine_factory_is_loaded_by_name() -> None:
    assert load_factory("benchmarks.deploy_families:default_engine") is default_engine
    with pytest.raises(SystemExit):
        load_factory("benchmarks.deploy_families")


def test_innocent_events_keep_away_from_rollbacks_as_from_deploys() -> None:
    """A rollback gets a verdict of its own and counts as a good deploy: a shift with no deploy
    behind it must not land in its window either (a truth no judge could meet)."""
    fleet = FAMILIES["weekly"].build(5)
    rolled = [(t["service"], t["rollback_at"]) for t in fleet.truth if t.get("rollback_at")]
    assert rolled
    spec = fleets_module.WEEKLY
    n = int(spec.hours * 3600 / spec.interval)
    t = fleets_module.START_TS + np.arange(n) * spec.interval
    series = {(svc, m[0]): np.ones(n) for svc in {s for s, _ in rolled} for m in fleets_module.METRICS}
    signs = {m[0]: m[3] for m in fleets_module.METRICS}
    deploys = [{"service": t_["service"], "ts": t_["ts"]} for t_ in fleet.truth]
    placed = fleets_module._innocent_events(spec, np.random.default_rng(0), t, series, signs, deploys, rolled)
    assert len(placed) > 10
    for svc, a, b in placed:
        for service, ts in rolled:
            if service == svc:
                assert b < ts - spec.quiet_before or a > ts + spec.quiet_after


def test_a_bad_release_ships_on_top_of_an_unfixed_regression() -> None:
    """Every release bad, none rolled back: each one's step is its own, on top of the level it
    found. (The next release used to end the earlier effect even when it was bad too, so a bad
    release that hit the same metric often showed a net improvement: a truth no judge could meet.)"""
    spec = replace(
        PHASES,
        services=3,
        hours=24.0,
        deploys_per_service=4,
        bad_share=1.0,
        shapes=("step",),
        noise_scale=0.0,
        spike_rate=0.0,
        rollback_share=0.0,
    )
    fleet = synth_fleet(spec, 3, "phases")
    series: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for e in fleet.events:
        if "metric" in e and "value" in e:
            series.setdefault((e["service"], e["metric"]), []).append((float(e["ts"]), float(e["value"])))
    signs = {m[0]: m[3] for m in fleets_module.METRICS}
    stacked = 0
    for row in fleet.truth:
        earlier = [t for t in fleet.truth if t["service"] == row["service"] and t["ts"] < row["ts"]]
        stacked += any(set(t["metrics"]) & set(row["metrics"]) for t in earlier)
        for metric in row["metrics"]:
            points = sorted(series[(row["service"], metric)])
            before = max(p for p in points if p[0] < row["ts"])[1]
            after = min(p for p in points if p[0] >= row["ts"])[1]
            ratio = after / before if signs[metric] > 0 else before / after
            # One sample apart: the daily cycle moves the level by well under 1 %.
            assert ratio == pytest.approx(1 + row["effect"], rel=0.01), (row["id"], metric)
    assert stacked >= 2  # the case that matters: a later bad release on a metric already hit
