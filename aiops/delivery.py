"""Delivery metrics (DORA) from the deploys, verdicts, rollbacks and incidents aiops already has.

Four DORA measures plus the time to a verdict, for a service, a team or the fleet, over a range,
in day, week or month buckets (UTC; weeks start on Monday), each placed in the DORA performance
bands (:data:`BANDS_SOURCE`). The database computes every number (aiops/store/delivery_sql.py);
this module chooses the buckets, names the bands and shapes the report (docs/contracts.md section 12).

What counts:

- deployment frequency: production deploys by deploy time (rollbacks counted apart); the band is
  read from the deploys per service per day (the bands describe how often one application ships);
- lead time: deploy time minus its change's commit or merge time (``commit_ts`` on the deploy, or
  the latest CDEvents ``change.merged`` of its artifact); median and 90th percentile;
- change-failure rate: deploys that failed their verdict, were rolled back (their service's next
  event in that environment is a rollback) or had an incident blamed on them, over deploys. A failed
  verdict or a blamed incident whose latest feedback calls it a false positive does not count; the
  deploys kept out that way only are reported as ``excluded_false_positives``;
- time to restore, per failed deploy: from its first blamed incident's opening (else its failed
  verdict, else the deploy) to the earlier of its incidents all resolved and the recovery after its
  rollback (the rollback's pass verdict, or the rollback itself when it has no verdict yet);
- time to verdict: deploy time to its final verdict's ``decided_at``.

>>> from aiops.model import DeployEvent, Effects
>>> from aiops.store import open_store
>>> store = open_store("sqlite://:memory:")
>>> day = 86400.0
>>> store.write(Effects(deploys=[DeployEvent.create("api", "v1", 20_000 * day + 3600, commit_ts=20_000 * day)]))
>>> report = delivery_report(store, start=20_000 * day, end=20_007 * day, bucket=Bucket.DAY)
>>> lead = report["summary"]["lead_time"]
>>> lead["median_seconds"], lead["band"], len(report["buckets"])
(3600.0, 'elite', 7)
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from aiops.store.base import Store
from aiops.store.delivery_sql import DeliveryQuery, GroupStats, Spread

DAY = 86400.0
MAX_BUCKETS = 1500
BANDS_SOURCE = "DORA, Accelerate State of DevOps Report 2023: software delivery performance levels"


class Bucket(StrEnum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


# --- the bands -----------------------------------------------------------------------------------
# From the 2023 Accelerate State of DevOps Report (DORA / Google Cloud), its table of software
# delivery performance levels:
#                      elite                high                     medium                    low
#   deploy frequency   on demand (multiple  between once per day     between once per week     between once per week
#                      deploys per day)     and once per week        and once per month        and once per month
#   change lead time   less than one day    between one day and      between one week and      between one week and
#                                           one week                 one month                 one month
#   change failure     5 %                  10 %                     15 %                      64 %
#   recovery time      less than one hour   less than one day        between one day and       between one month and
#                                                                    one week                  six months
# The report gives each level's typical value, not cut-offs; we read them as upper bounds (a rate
# of 12 % is "medium": worse than high's 10 %, no worse than medium's 15 %). Low shares medium's
# frequency and lead time in 2023: here low is what is slower than medium (less than monthly, a
# month or more). Time to verdict has no DORA band.


def frequency_band(per_day: float | None) -> str | None:
    """Band of one service's deploys per day.

    >>> frequency_band(2.0), frequency_band(0.2), frequency_band(1 / 20), frequency_band(0.01)
    ('elite', 'high', 'medium', 'low')
    """
    if per_day is None:
        return None
    if per_day >= 1.0:
        return "elite"
    if per_day >= 1.0 / 7:
        return "high"
    if per_day >= 1.0 / 30:
        return "medium"
    return "low"


def lead_time_band(seconds: float | None) -> str | None:
    """Band of a median lead time in seconds.

    >>> lead_time_band(3600), lead_time_band(3 * DAY), lead_time_band(10 * DAY), lead_time_band(40 * DAY)
    ('elite', 'high', 'medium', 'low')
    """
    return _duration_band(seconds, (DAY, 7 * DAY, 30 * DAY))


def restore_band(seconds: float | None) -> str | None:
    """Band of a median time to restore in seconds.

    >>> restore_band(600), restore_band(7200), restore_band(2 * DAY), restore_band(8 * DAY)
    ('elite', 'high', 'medium', 'low')
    """
    return _duration_band(seconds, (3600.0, DAY, 7 * DAY))


def failure_rate_band(rate: float | None) -> str | None:
    """Band of a change-failure rate (0..1).

    >>> failure_rate_band(0.05), failure_rate_band(0.1), failure_rate_band(0.15), failure_rate_band(0.2)
    ('elite', 'high', 'medium', 'low')
    """
    if rate is None:
        return None
    for limit, band in ((0.05, "elite"), (0.10, "high"), (0.15, "medium")):
        if rate <= limit + 1e-12:
            return band
    return "low"


def _duration_band(seconds: float | None, limits: tuple[float, float, float]) -> str | None:
    if seconds is None:
        return None
    for limit, band in zip(limits, ("elite", "high", "medium"), strict=True):
        if seconds < limit:
            return band
    return "low"


# --- ranges and buckets --------------------------------------------------------------------------


def bucket_bounds(start: float, end: float, bucket: Bucket) -> list[tuple[float, float]]:
    """[start, end) cut at UTC day, Monday or month-start boundaries; the first and last clipped.

    >>> b = bucket_bounds(1793577600.0, 1796256000.0, Bucket.MONTH)  # 2026-11-02 .. 2026-12-03
    >>> [datetime.fromtimestamp(s, UTC).date().isoformat() for s, _ in b]
    ['2026-11-02', '2026-12-01']
    """
    if not end > start:
        raise ValueError("to: must be after from")
    bounds: list[tuple[float, float]] = []
    cut = _floor(start, bucket)
    while cut < end:
        nxt = _next(cut, bucket)
        bounds.append((max(cut, start), min(nxt, end)))
        if len(bounds) > MAX_BUCKETS:
            raise ValueError(f"bucket: more than {MAX_BUCKETS} {bucket.value}s in this range; choose a longer bucket")
        cut = nxt
    return bounds


def _floor(ts: float, bucket: Bucket) -> float:
    d = datetime.fromtimestamp(ts, UTC)
    day = datetime(d.year, d.month, d.day, tzinfo=UTC)
    if bucket is Bucket.WEEK:
        day -= timedelta(days=day.weekday())
    elif bucket is Bucket.MONTH:
        day = day.replace(day=1)
    return day.timestamp()


def _next(cut: float, bucket: Bucket) -> float:
    d = datetime.fromtimestamp(cut, UTC)
    if bucket is Bucket.DAY:
        return (d + timedelta(days=1)).timestamp()
    if bucket is Bucket.WEEK:
        return (d + timedelta(days=7)).timestamp()
    return datetime(d.year + d.month // 12, d.month % 12 + 1, 1, tzinfo=UTC).timestamp()


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNIT = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": DAY, "w": 7 * DAY}


def parse_duration(text: str, field_name: str) -> float:
    """``30d``, ``12h``, ``2w``... in seconds; ValueError naming ``field_name`` otherwise.

    >>> parse_duration("30d", "since")
    2592000.0
    >>> parse_duration("a month", "since")
    Traceback (most recent call last):
    ...
    ValueError: since: 'a month' is not a duration such as 30d, 12h or 2w
    """
    m = _DURATION.match(text)
    if not m or float(m.group(1)) <= 0:
        raise ValueError(f"{field_name}: {text[:40]!r} is not a duration such as 30d, 12h or 2w")
    return float(m.group(1)) * _UNIT[m.group(2)]


# --- the report ----------------------------------------------------------------------------------


def _spread(s: Spread) -> dict[str, Any]:
    return {"median_seconds": s.median, "p90_seconds": s.p90}


def _ratio(a: int, b: int) -> float | None:
    return round(a / b, 6) if b else None


def measures(stats: GroupStats, days: float) -> dict[str, Any]:
    """The five measures of one group (a bucket, a team or the range), with what they come from."""
    c = stats.counts
    per_service = c.deployments / c.services / days if c.services and days > 0 else None
    return {
        "deployment_frequency": {
            "deployments": c.deployments,
            "rollbacks": c.rollbacks,
            "services": c.services,
            "days": round(days, 6),
            "per_day": round(c.deployments / days, 6) if days > 0 else None,
            "per_service_per_day": round(per_service, 6) if per_service is not None else None,
            "band": frequency_band(per_service),
        },
        "lead_time": {
            "deployments_with_commit_time": stats.lead_time.n,
            "deployments_without": c.deployments - stats.lead_time.n,
            **_spread(stats.lead_time),
            "band": lead_time_band(stats.lead_time.median),
        },
        "change_failure_rate": {
            "deployments": c.deployments,
            "failures": c.failures,
            "rate": _ratio(c.failures, c.deployments),
            "failed_verdicts": c.failed_verdicts,
            "rolled_back": c.rolled_back,
            "with_incidents": c.with_incidents,
            "excluded_false_positives": c.excluded_false_positives,
            "band": failure_rate_band(_ratio(c.failures, c.deployments)),
        },
        "time_to_restore": {
            "restored": stats.time_to_restore.n,
            "unrestored": c.unrestored,
            **_spread(stats.time_to_restore),
            "band": restore_band(stats.time_to_restore.median),
        },
        "time_to_verdict": {
            "verdicts": stats.time_to_verdict.n,
            **_spread(stats.time_to_verdict),
            "band": None,
        },
    }


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def delivery_report(
    store: Store,
    *,
    start: float,
    end: float,
    bucket: Bucket = Bucket.WEEK,
    service: str | None = None,
    team: str | None = None,
) -> dict[str, Any]:
    """The delivery report of [start, end) (docs/contracts.md section 12): the range's measures and each bucket's."""
    bounds = bucket_bounds(start, end, bucket)
    stats = store.delivery_stats(DeliveryQuery(tuple(bounds), service=service, team=team))
    empty = GroupStats()
    return {
        "service": service,
        "team": team,
        "from": start,
        "to": end,
        "bucket": bucket.value,
        "bands": BANDS_SOURCE,
        "summary": measures(stats.total, (end - start) / DAY),
        "buckets": [
            {"start": s, "end": e, "label": _iso(s), **measures(stats.groups.get(i, empty), (e - s) / DAY)}
            for i, (s, e) in enumerate(bounds)
        ],
    }


def team_measures(store: Store, *, start: float, end: float) -> dict[str, dict[str, Any]]:
    """Each team's measures over [start, end) in one query (the Prometheus gauges); "" is no team."""
    stats = store.delivery_stats(DeliveryQuery(((start, end),), by="team"))
    days = (end - start) / DAY
    return {str(team): measures(s, days) for team, s in stats.groups.items()}
