"""``GET /v1/delivery``: delivery metrics (DORA) for a service, a team or the fleet (docs/contracts.md section 12)."""

from __future__ import annotations

import re
import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query

from aiops.api.deps import ReadAuth, StoreDep
from aiops.api.schemas import ErrorOut
from aiops.delivery import DAY, Bucket, delivery_report
from aiops.parsing import parse_time

router = APIRouter(tags=["delivery"])

DEFAULT_RANGE = 30 * DAY
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
Name = Annotated[str | None, Query(min_length=1, max_length=256)]
Time = Annotated[str | None, Query(max_length=40, description="epoch seconds or RFC 3339")]


def _name(value: str | None, field: str) -> str | None:
    if value is not None and _CONTROL.search(value):
        raise HTTPException(400, f"{field}: contains control characters")
    return value


@router.get("/v1/delivery", responses={400: {"model": ErrorOut}})
def delivery(
    store: StoreDep,
    _: ReadAuth,
    service: Name = None,
    team: Name = None,
    from_: Annotated[str | None, Query(alias="from", max_length=40, description="epoch seconds or RFC 3339")] = None,
    to: Time = None,
    bucket: Literal["day", "week", "month"] = "week",
) -> dict[str, Any]:
    """Deployment frequency, lead time, change-failure rate, time to restore and time to verdict
    over [from, to) (default: the last 30 days), for the whole range and per bucket, each with the
    counts it comes from and its DORA band."""
    try:
        end = parse_time(to, "to") if to is not None else float(int(time.time()))
        start = parse_time(from_, "from") if from_ is not None else end - DEFAULT_RANGE
        return delivery_report(
            store,
            start=start,
            end=end,
            bucket=Bucket(bucket),
            service=_name(service, "service"),
            team=_name(team, "team"),
        )
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from None
