"""Delivery metrics (DORA) over the hand-computed history of tests/delivery_fixture.py, on both stores.

Every number below is worked out by hand in that module's docstring; the SQL must find the same
on SQLite and PostgreSQL.
"""

from __future__ import annotations

from typing import Any

import pytest
from delivery_fixture import END, W0, W1, W2, D, H, load

from aiops.delivery import Bucket, bucket_bounds, delivery_report, team_measures
from aiops.store import SqlStore


def freq(deployments: int, rollbacks: int, services: int, days: float, band: str | None) -> dict[str, Any]:
    return {
        "deployments": deployments,
        "rollbacks": rollbacks,
        "services": services,
        "days": days,
        "per_day": round(deployments / days, 6),
        "per_service_per_day": round(deployments / services / days, 6) if services else None,
        "band": band,
    }


def lead(n: int, without: int, median: float | None, p90: float | None, band: str | None) -> dict[str, Any]:
    return {
        "deployments_with_commit_time": n,
        "deployments_without": without,
        "median_seconds": median,
        "p90_seconds": p90,
        "band": band,
    }


def cfr(
    deployments: int, failures: int, verdicts: int, rolled: int, incidents: int, excluded: int, band: str | None
) -> dict[str, Any]:
    return {
        "deployments": deployments,
        "failures": failures,
        "rate": round(failures / deployments, 6) if deployments else None,
        "failed_verdicts": verdicts,
        "rolled_back": rolled,
        "with_incidents": incidents,
        "excluded_false_positives": excluded,
        "band": band,
    }


def restore(n: int, unrestored: int, median: float | None, p90: float | None, band: str | None) -> dict[str, Any]:
    return {"restored": n, "unrestored": unrestored, "median_seconds": median, "p90_seconds": p90, "band": band}


def verdict(n: int, median: float | None, p90: float | None) -> dict[str, Any]:
    return {"verdicts": n, "median_seconds": median, "p90_seconds": p90, "band": None}


def measures(f: dict[str, Any], lt: dict[str, Any], c: dict[str, Any], r: dict[str, Any], v: dict[str, Any]) -> Any:
    return {
        "deployment_frequency": f,
        "lead_time": lt,
        "change_failure_rate": c,
        "time_to_restore": r,
        "time_to_verdict": v,
    }


WEEK_0 = measures(
    freq(4, 1, 3, 7.0, "high"),  # 4 / 3 services / 7 days = 0.19 a day: between daily and weekly
    lead(3, 1, 10800.0, 93600.0, "elite"),  # [7200, 10800, 93600]
    cfr(4, 1, 1, 1, 1, 1, "low"),  # d2 failed three ways; d3 only by a verdict called a false positive
    restore(1, 0, 5100.0, 5100.0, "high"),  # 85 minutes: over the hour
    verdict(4, 1350.0, 1800.0),  # [600, 900, 1800, 1800]
)
WEEK_1 = measures(
    freq(4, 0, 3, 7.0, "high"),
    lead(3, 1, 3600.0, 14400.0, "elite"),  # [1800, 3600, 14400]
    cfr(4, 2, 1, 0, 1, 1, "low"),  # d6 (incident), d7 (fail, latest feedback true positive); d5 excluded
    restore(1, 1, 108000.0, 108000.0, "medium"),  # d6 30 h; d7 never restored
    verdict(3, 1800.0, 1800.0),  # [300, 1800, 1800]; d8 has none
)
WEEK_2 = measures(
    freq(3, 2, 3, 7.0, "high"),  # 1 / 7 a day per service: weekly, the bottom of high
    lead(3, 0, 18000.0, 86400.0, "elite"),  # [7200, 18000, 86400]
    cfr(3, 2, 1, 2, 1, 0, "low"),  # d9 (rolled back), d11 (all three)
    restore(1, 1, 7200.0, 7200.0, "high"),  # d9: deploy to rollback; d11's rollback failed
    verdict(3, 1800.0, 1800.0),
)
SUMMARY = measures(
    freq(11, 3, 3, 21.0, "high"),
    lead(9, 2, 10800.0, 93600.0, "elite"),  # [1800, 3600, 7200, 7200, 10800, 14400, 18000, 86400, 93600]
    cfr(11, 5, 3, 3, 3, 2, "low"),  # 5 / 11 = 45 %
    restore(3, 2, 7200.0, 108000.0, "high"),  # [5100, 7200, 108000]
    verdict(10, 1800.0, 1800.0),  # [300, 600, 600, 900, 1800 x 6]
)


@pytest.fixture
def loaded(store: SqlStore) -> SqlStore:
    load(store)
    return store


def test_weekly_fleet_report_matches_the_hand_computed_history(loaded: SqlStore) -> None:
    report = delivery_report(loaded, start=W0, end=END, bucket=Bucket.WEEK)
    assert report["summary"] == SUMMARY
    assert [b["start"] for b in report["buckets"]] == [W0, W1, W2]
    assert [b["label"] for b in report["buckets"]] == [
        "2026-11-02T00:00:00Z",
        "2026-11-09T00:00:00Z",
        "2026-11-16T00:00:00Z",
    ]
    got = [{k: v for k, v in b.items() if k not in ("start", "end", "label")} for b in report["buckets"]]
    assert got == [WEEK_0, WEEK_1, WEEK_2]
    assert report["bands"].endswith("2023: software delivery performance levels")


def test_one_service_and_one_team(loaded: SqlStore) -> None:
    api = delivery_report(loaded, start=W0, end=END, service="api")["summary"]
    assert api["deployment_frequency"] == freq(4, 2, 1, 21.0, "high")  # 4 a service over 21 days
    assert api["lead_time"] == lead(4, 0, 12600.0, 93600.0, "elite")  # [3600, 7200, 18000, 93600]
    assert api["change_failure_rate"] == cfr(4, 2, 1, 2, 1, 1, "low")  # d2, d9; d5 excluded
    assert api["time_to_restore"] == restore(2, 0, 6150.0, 7200.0, "high")  # [5100, 7200]
    # payments: api by its own deploys, web by the mapping (but d11 said growth); r1, r2, r3 by the mapping
    payments = delivery_report(loaded, start=W0, end=END, team="payments")["summary"]
    assert payments["deployment_frequency"] == freq(7, 3, 2, 21.0, "high")
    assert payments["change_failure_rate"] == cfr(7, 3, 1, 2, 2, 2, "low")  # d2, d6, d9; d3, d5 excluded
    growth = delivery_report(loaded, start=W0, end=END, team="growth")["summary"]
    assert growth["change_failure_rate"] == cfr(1, 1, 1, 1, 1, 0, "low")
    assert growth["time_to_restore"] == restore(0, 1, None, None, None)


def test_team_measures_group_the_whole_range_by_team(loaded: SqlStore) -> None:
    teams = team_measures(loaded, start=W0, end=END)
    assert sorted(teams) == ["find", "growth", "payments"]
    assert teams["find"]["deployment_frequency"]["deployments"] == 3
    assert teams["find"]["change_failure_rate"] == cfr(3, 1, 1, 0, 0, 0, "low")  # d7
    assert teams["find"]["lead_time"] == lead(3, 0, 7200.0, 10800.0, "elite")  # [1800, 7200, 10800]
    assert teams["payments"]["deployment_frequency"]["rollbacks"] == 3


def test_daily_buckets_cover_the_range_and_an_empty_day_is_zero(loaded: SqlStore) -> None:
    report = delivery_report(loaded, start=W0, end=END, bucket=Bucket.DAY)
    assert len(report["buckets"]) == 21
    per_day = [b["deployment_frequency"]["deployments"] for b in report["buckets"]]
    assert per_day == [0, 1, 1, 1, 1, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 1, 1, 1, 0, 0, 0]
    assert sum(per_day) == 11
    empty = report["buckets"][0]
    assert empty["change_failure_rate"]["rate"] is None and empty["lead_time"]["median_seconds"] is None


def test_month_buckets_are_calendar_months_clipped_to_the_range(loaded: SqlStore) -> None:
    report = delivery_report(loaded, start=W0, end=W0 + 35 * D, bucket=Bucket.MONTH)
    assert [(b["label"], b["deployment_frequency"]["days"]) for b in report["buckets"]] == [
        ("2026-11-02T00:00:00Z", 29.0),
        ("2026-12-01T00:00:00Z", 6.0),
    ]
    assert report["buckets"][0]["deployment_frequency"]["deployments"] == 12  # d12 is on 2026-11-23


def test_feedback_deleted_puts_the_failure_back(loaded: SqlStore) -> None:
    assert loaded.delete_feedback("f1")  # d3's failed verdict is no longer called a false positive
    c = delivery_report(loaded, start=W0, end=END)["summary"]["change_failure_rate"]
    assert (c["failures"], c["excluded_false_positives"], c["failed_verdicts"]) == (6, 1, 4)


def test_bad_ranges_are_refused_naming_the_field() -> None:
    with pytest.raises(ValueError, match=r"^to: must be after from$"):
        bucket_bounds(W1, W0, Bucket.WEEK)
    with pytest.raises(ValueError, match=r"^bucket: more than 1500 days"):
        bucket_bounds(0.0, 2000 * D, Bucket.DAY)


# d1-d4, d5-d8, d9-d11, then d0 and d12 (the staging deploy is not production)
PRODUCTION_DEPLOY_TIMES = [
    *(W0 + D + 10 * H, W0 + 2 * D + 10 * H, W0 + 3 * D + 12 * H, W0 + 4 * D + 9 * H),
    *(W1 + D + 10 * H, W1 + 2 * D + 10 * H, W1 + 3 * D + 10 * H, W1 + 4 * D + 10 * H),
    *(W2 + D + 10 * H, W2 + 2 * D + 10 * H, W2 + 3 * D + 10 * H, W0 - H, END + H),
]


@pytest.mark.parametrize(
    ("start", "end", "bucket"),
    [
        (W0 + 2 * D + 12 * H, W0 + 9 * D, Bucket.WEEK),  # two weeks, both clipped
        (W0 + 2 * D + 12 * H, W2 + 2 * D + 11 * H, Bucket.WEEK),  # three, first and last clipped
        (W0 - 2 * D, END + 2 * D, Bucket.DAY),
        (W0 - 3 * H, W0 + 40 * D, Bucket.MONTH),  # October (a few hours), November, December
        (W0 + 3 * D, W0 + 3 * D + 13 * H, Bucket.DAY),  # one bucket
    ],
)
def test_every_deploy_lands_in_the_bucket_of_its_time(
    loaded: SqlStore, start: float, end: float, bucket: Bucket
) -> None:
    report = delivery_report(loaded, start=start, end=end, bucket=bucket)
    got = [b["deployment_frequency"]["deployments"] for b in report["buckets"]]
    expected = [sum(1 for t in PRODUCTION_DEPLOY_TIMES if b["start"] <= t < b["end"]) for b in report["buckets"]]
    assert got == expected and sum(got) == report["summary"]["deployment_frequency"]["deployments"] > 0


def test_bucket_and_team_reports_alternate_on_one_connection(loaded: SqlStore) -> None:
    # psycopg prepares a statement run five times; a prepared plan must not change its result type.
    for _ in range(6):
        assert delivery_report(loaded, start=W0, end=END)["summary"] == SUMMARY
        assert sorted(team_measures(loaded, start=W0, end=END)) == ["find", "growth", "payments"]
