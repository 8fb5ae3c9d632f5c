"""A replayed bad deploy (and a good one) for the console and notification tests."""

from __future__ import annotations

from fleets import T0, deploy, in_time_order, make_engine, service_samples

from aiops.engine import Engine
from aiops.pipeline import Pipeline
from aiops.store.base import Store

DEPLOY_AT = T0 + 90 * 60


def replay_bad_deploy(store: Store, engine: Engine | None = None) -> str:
    """``api`` v2 makes p99 latency 50 % worse; ``web`` w7 is clean. Returns the incident's id."""
    records = in_time_order(
        [
            *service_samples("api", shift_at=DEPLOY_AT, shift=0.5),
            deploy("api", DEPLOY_AT),
            *service_samples("web", seed=3, level=0.1),
            deploy("web", DEPLOY_AT + 300, "w7"),
        ]
    )
    pipeline = Pipeline(engine or make_engine(), store)
    pipeline.ingest_records(records)
    pipeline.finish()
    from aiops.store.base import IncidentFilter

    found = store.list_incidents(IncidentFilter(deployment_id="api-v2")).items
    assert len(found) == 1, f"the bad deploy opened {len(found)} incidents"
    return found[0].id
