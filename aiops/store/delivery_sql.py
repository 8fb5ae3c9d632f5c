"""The delivery measures (DORA) as two SQL statements that SQLite and PostgreSQL answer alike.

Every number of a delivery report is computed in the database, over the deploys of the range only
(``deployments (ts, id)``; a team's through ``deployments (team, ts)``), each deploy looking up what
it needs by index: its verdict (primary key), the next event of its service and environment
(``deployments (service, environment, ts, id)``: was it rolled back?), the incidents blamed on it
(``incidents (deployment_id)``), the latest feedback on its verdict and incidents
(``feedback (target_kind, target_id, ts)``) and the change merged into its artifact
(``changes (artifact, ts)``). Python only turns the few aggregate rows into a report.

Portable SQL only: no ``FILTER``, ``percentile_cont``, ``GREATEST`` or booleans (SQLite has none of
them, or other meanings); medians by ``ROW_NUMBER``, which both engines have. Buckets are a
``VALUES`` list of [start, end) bounds computed in Python (calendar months are not a fixed length),
written as numeric literals: they are floats this module formats, never user text.

>>> from aiops.store import open_store
>>> store = open_store("sqlite://:memory:")
>>> stats = store.delivery_stats(DeliveryQuery(buckets=((0.0, 86400.0),)))
>>> stats.total.counts.deployments, stats.total.lead_time.median
(0, None)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

# Deploys counted as production: environment not given, or one of these names (case-insensitive).
PRODUCTION_ENVIRONMENTS: tuple[str, ...] = ("", "prod", "production", "prd", "live")


@dataclass(frozen=True, slots=True)
class DeliveryQuery:
    """Which deploys (by deploy time, in ``buckets``) and how to group them (by bucket or team)."""

    buckets: tuple[tuple[float, float], ...]  # [start, end), in order, not overlapping
    service: str | None = None
    team: str | None = None
    by: Literal["bucket", "team"] = "bucket"
    environments: tuple[str, ...] = PRODUCTION_ENVIRONMENTS

    def __post_init__(self) -> None:
        if not self.buckets:
            raise ValueError("buckets: at least one")
        for start, end in self.buckets:
            if not (math.isfinite(start) and math.isfinite(end) and start < end):
                raise ValueError(f"buckets: [{start}, {end}) is not a range")


@dataclass(frozen=True, slots=True)
class Counts:
    """Counts of one group. ``failures`` counts deploys that failed their verdict, were rolled back
    or had an incident blamed on them; ``excluded_false_positives`` the deploys that only feedback
    calling their failed verdict or blamed incidents false positives kept out of ``failures``."""

    deployments: int = 0  # production deploys (rollbacks apart)
    rollbacks: int = 0
    services: int = 0  # services with at least one deploy
    failures: int = 0
    failed_verdicts: int = 0  # failed verdicts not called false positives
    rolled_back: int = 0
    with_incidents: int = 0  # with a blamed incident not called a false positive
    excluded_false_positives: int = 0
    unrestored: int = 0  # failures with no resolution or recovery yet


@dataclass(frozen=True, slots=True)
class Spread:
    """Durations in seconds: how many, their median and 90th percentile (nearest rank)."""

    n: int = 0
    median: float | None = None
    p90: float | None = None


@dataclass(frozen=True, slots=True)
class GroupStats:
    counts: Counts = field(default_factory=Counts)
    lead_time: Spread = field(default_factory=Spread)  # commit or merge -> deploy
    time_to_restore: Spread = field(default_factory=Spread)  # failure -> resolved or recovered
    time_to_verdict: Spread = field(default_factory=Spread)  # deploy -> final verdict


@dataclass(frozen=True, slots=True)
class DeliveryStats:
    total: GroupStats
    groups: dict[Any, GroupStats]  # by bucket index (int) or by team (str, "" for none)


def _num(x: float) -> str:
    return repr(float(x))


def _facts_sql(query: DeliveryQuery) -> tuple[str, list[Any]]:
    """The CTEs every statement starts from: one ``facts`` row per production deploy or rollback."""
    values = ", ".join(f"({i}, {_num(s)}, {_num(e)})" for i, (s, e) in enumerate(query.buckets))
    params: list[Any] = []
    env_marks = ", ".join("?" for _ in query.environments)
    params.extend(e.lower() for e in query.environments)
    team_expr = "COALESCE(NULLIF(d.team, ''), st.team, '')"
    where = [f"LOWER(d.environment) IN ({env_marks})"]
    if query.service is not None:
        where.append("d.service = ?")
        params.append(query.service)
    if query.team is not None:
        where.append(f"{team_expr} = ?")
        params.append(query.team)
    latest_label = (
        "(SELECT f.label FROM feedback f WHERE f.target_kind = '{kind}' AND f.target_id = {target} "
        "ORDER BY f.ts DESC, f.id DESC LIMIT 1)"
    )
    incident_label = latest_label.format(kind="incident", target="i.id")
    verdict_label = latest_label.format(kind="deployment", target="x.id")
    where_sql = " AND ".join(where)
    sql = f"""
WITH b (b_idx, b_start, b_end) AS (VALUES {values}),
d0 AS (
  SELECT b.b_idx, d.id, d.service, d.environment, d.ts, d.kind, d.commit_ts, d.artifact,
         {team_expr} AS team
  FROM b JOIN deployments d ON d.ts >= b.b_start AND d.ts < b.b_end
  LEFT JOIN service_teams st ON st.service = d.service
  WHERE {where_sql}
),
x AS (
  SELECT d0.*,
    (SELECT n.id FROM deployments n
     WHERE n.service = d0.service AND n.environment = d0.environment
       AND n.ts >= d0.ts AND (n.ts > d0.ts OR n.id > d0.id)
     ORDER BY n.ts, n.id LIMIT 1) AS next_id
  FROM d0 WHERE d0.kind = 'deploy'
),
inc1 AS (
  SELECT i.deployment_id, i.opened_at, i.resolved_at,
    CASE WHEN {incident_label} = 'false_positive' THEN 1 ELSE 0 END AS fp
  FROM incidents i WHERE i.deployment_id IN (SELECT id FROM x)
),
inc AS (
  SELECT deployment_id, COUNT(*) AS n_all, SUM(1 - fp) AS n_real,
    MIN(CASE WHEN fp = 0 THEN opened_at END) AS opened,
    MAX(CASE WHEN fp = 0 THEN resolved_at END) AS resolved,
    SUM(CASE WHEN fp = 0 AND resolved_at IS NULL THEN 1 ELSE 0 END) AS unresolved
  FROM inc1 GROUP BY deployment_id
),
f1 AS (
  SELECT x.b_idx, x.team, x.service, x.ts, v.verdict, v.decided_at,
    CASE WHEN v.verdict = 'fail' AND {verdict_label} = 'false_positive'
         THEN 1 ELSE 0 END AS verdict_fp,
    CASE WHEN r.id IS NULL THEN 0 ELSE 1 END AS rolled_back,
    CASE WHEN r.id IS NULL THEN NULL WHEN rv.verdict = 'pass' THEN rv.decided_at
         WHEN rv.verdict = 'fail' THEN NULL ELSE r.ts END AS recovered,
    COALESCE(inc.n_all, 0) AS n_all, COALESCE(inc.n_real, 0) AS n_real, inc.opened,
    CASE WHEN inc.n_real > 0 AND inc.unresolved = 0 THEN inc.resolved END AS inc_resolved,
    CASE WHEN x.commit_ts IS NOT NULL THEN x.commit_ts
         WHEN x.artifact <> '' THEN (SELECT MAX(c.ts) FROM changes c WHERE c.artifact = x.artifact AND c.ts <= x.ts)
    END AS commit_at
  FROM x
  LEFT JOIN verdicts v ON v.deployment_id = x.id
  LEFT JOIN deployments r ON r.id = x.next_id AND r.kind = 'rollback'
  LEFT JOIN verdicts rv ON rv.deployment_id = r.id
  LEFT JOIN inc ON inc.deployment_id = x.id
),
f2 AS (
  SELECT f1.*,
    CASE WHEN (verdict = 'fail' AND verdict_fp = 0) OR rolled_back = 1 OR n_real > 0 THEN 1 ELSE 0 END AS failed,
    CASE WHEN verdict = 'fail' AND verdict_fp = 0 THEN 1 ELSE 0 END AS failed_verdict,
    CASE WHEN verdict = 'fail' OR n_all > 0 THEN 1 ELSE 0 END AS flagged,
    COALESCE(opened, CASE WHEN verdict = 'fail' AND verdict_fp = 0 THEN decided_at END, ts) AS restore_from,
    CASE WHEN inc_resolved IS NULL THEN recovered WHEN recovered IS NULL THEN inc_resolved
         WHEN recovered < inc_resolved THEN recovered ELSE inc_resolved END AS restore_to
  FROM f1
),
facts AS (
  SELECT b_idx, team, service, 1 AS is_deploy, failed, failed_verdict, rolled_back,
    CASE WHEN n_real > 0 THEN 1 ELSE 0 END AS with_incident,
    CASE WHEN failed = 0 AND flagged = 1 THEN 1 ELSE 0 END AS excluded,
    CASE WHEN failed = 1 AND restore_to IS NULL THEN 1 ELSE 0 END AS unrestored,
    CASE WHEN commit_at IS NOT NULL THEN ts - commit_at END AS lead_s,
    CASE WHEN failed = 1 AND restore_to IS NOT NULL THEN
      CASE WHEN restore_to > restore_from THEN restore_to - restore_from ELSE 0 END END AS restore_s,
    CASE WHEN verdict IN ('pass', 'fail', 'inconclusive') AND decided_at IS NOT NULL THEN decided_at - ts END
      AS verdict_s
  FROM f2
  UNION ALL
  SELECT b_idx, team, service, 0, 0, 0, 0, 0, 0, 0, NULL, NULL, NULL FROM d0 WHERE kind = 'rollback'
)"""
    return sql, params


_COUNTS = """
  SUM(is_deploy), SUM(1 - is_deploy), COUNT(DISTINCT CASE WHEN is_deploy = 1 THEN service END),
  SUM(failed), SUM(failed_verdict), SUM(rolled_back), SUM(with_incident), SUM(excluded), SUM(unrestored)"""

_SPREADS = """,
vals AS (
  SELECT {key} AS k, 'lead' AS m, lead_s AS v FROM facts WHERE lead_s IS NOT NULL
  UNION ALL SELECT {key}, 'restore', restore_s FROM facts WHERE restore_s IS NOT NULL
  UNION ALL SELECT {key}, 'verdict', verdict_s FROM facts WHERE verdict_s IS NOT NULL
),
allv AS (SELECT 1 AS total, k, m, v FROM vals UNION ALL SELECT 0, k, m, v FROM vals),
ranked AS (
  SELECT total, k, m, v,
    ROW_NUMBER() OVER (PARTITION BY total, CASE WHEN total = 1 THEN NULL ELSE k END, m ORDER BY v) AS rn,
    COUNT(*) OVER (PARTITION BY total, CASE WHEN total = 1 THEN NULL ELSE k END, m) AS n
  FROM allv
)
SELECT total, CASE WHEN total = 1 THEN NULL ELSE k END AS g, m, n,
  AVG(CASE WHEN rn = (n + 1) / 2 OR rn = (n + 2) / 2 THEN v END),
  MAX(CASE WHEN rn = (9 * n + 9) / 10 THEN v END)
FROM ranked GROUP BY total, CASE WHEN total = 1 THEN NULL ELSE k END, m, n"""


def run_delivery_query(cur: Any, query: DeliveryQuery, dialect_sql: Callable[[str], str]) -> DeliveryStats:
    """Run the two statements on a DB-API cursor; ``dialect_sql`` adapts parameter markers."""
    facts, params = _facts_sql(query)
    key = "b_idx" if query.by == "bucket" else "team"
    cur.execute(
        dialect_sql(
            f"{facts}\nSELECT 1, NULL, {_COUNTS} FROM facts\n"
            f"UNION ALL SELECT 0, {key}, {_COUNTS} FROM facts GROUP BY {key}"
        ),
        params,
    )
    counts: dict[Any, Counts] = {}
    total_counts = Counts()
    for row in cur.fetchall():
        c = Counts(*(int(n or 0) for n in row[2:]))
        if row[0] == 1:
            total_counts = c
        else:
            counts[row[1]] = c
    cur.execute(dialect_sql(facts + _SPREADS.format(key=key)), params)
    spreads: dict[tuple[Any, str], Spread] = {}
    for total, group, measure, n, median, p90 in cur.fetchall():
        spreads[("*total*" if total == 1 else group, measure)] = Spread(
            int(n), float(median) if median is not None else None, float(p90) if p90 is not None else None
        )

    def group_stats(g: Any, c: Counts) -> GroupStats:
        empty = Spread()
        return GroupStats(
            c,
            spreads.get((g, "lead"), empty),
            spreads.get((g, "restore"), empty),
            spreads.get((g, "verdict"), empty),
        )

    return DeliveryStats(
        group_stats("*total*", total_counts), {g: group_stats(g, c) for g, c in sorted(counts.items())}
    )
