"""The delivery measures (DORA) as two SQL statements that SQLite and PostgreSQL answer alike.

Every number of a delivery report is computed in the database, over the deploys of the range only
(``deployments (ts, id)``; a team's through ``deployments (team, ts)``), each deploy looking up what
it needs by index: its verdict (primary key), the next event of its service and environment
(``deployments (service, environment, ts, id)``: was it rolled back?), the incidents blamed on it
(``incidents (deployment_id)``), the latest feedback on its verdict and incidents
(``feedback (target_kind, target_id, ts)``) and the change merged into its artifact
(``changes (artifact, ts)``). Python only turns the few aggregate rows into a report.

Portable SQL only: no ``FILTER``, ``percentile_cont``, ``GREATEST`` or booleans (SQLite has none of
them, or other meanings); the one difference is rounding a bucket number down (``FLOOR`` on
PostgreSQL, whose casts round). The work is a few statements in one transaction over temporary
tables: the rollbacks since the range's start (each with the deploy it followed), one row of facts
per deploy, then each duration by (group, measure). Medians and 90th percentiles are exact, read
at their ranks: on SQLite by index look-ups (``LIMIT 1 OFFSET rank``; its window functions cost more
than the rest of a report), on PostgreSQL by ``ROW_NUMBER`` (cheap there, where hundreds of
look-ups are not). The fixture tests hold both to the same numbers. Bucket bounds and ranks are
written as numeric literals: numbers this module formats, never user text.

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
        for i, (start, end) in enumerate(self.buckets):
            if not (math.isfinite(start) and math.isfinite(end) and start < end):
                raise ValueError(f"buckets: [{start}, {end}) is not a range")
            if i and start != self.buckets[i - 1][1]:
                raise ValueError("buckets: must follow each other without gaps")


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


FACTS = "aiops_delivery_facts"
ROLLED = "aiops_delivery_rolled"
VALS = "aiops_delivery_vals"
_LATEST_LABEL = (
    "(SELECT f.label FROM feedback f WHERE f.target_kind = '{kind}' AND f.target_id = {target} "
    "ORDER BY f.ts DESC, f.id DESC LIMIT 1)"
)


def _rolled_sql(query: DeliveryQuery) -> str:
    """``CREATE TEMP TABLE`` of the rollbacks since the range's start, each with the event it
    followed in its service and environment (``prev_id``: the deploy it rolled back) and how it
    went. Few rows; indexed on ``prev_id`` for the join of every deploy."""
    return f"""
CREATE TEMP TABLE {ROLLED} AS
SELECT r.id, r.ts, rv.verdict, rv.decided_at,
  (SELECT p.id FROM deployments p
   WHERE p.service = r.service AND p.environment = r.environment
     AND p.ts <= r.ts AND (p.ts < r.ts OR p.id < r.id)
   ORDER BY p.ts DESC, p.id DESC LIMIT 1) AS prev_id
FROM deployments r LEFT JOIN verdicts rv ON rv.deployment_id = r.id
WHERE r.kind = 'rollback' AND r.ts >= {_num(query.buckets[0][0])}"""


def bucket_index_sql(buckets: tuple[tuple[float, float], ...], dialect: str, column: str = "d.ts") -> str:
    """The 0-based bucket of ``column`` (already inside the range): arithmetic when the buckets are
    one width (days, weeks; the first and last may be clipped), else a CASE over the bounds (months).
    A range join on a bucket table costs PostgreSQL a pass over the deploys per bucket.

    >>> bucket_index_sql(((5.0, 10.0), (10.0, 20.0), (20.0, 25.0)), "sqlite")
    'CAST((d.ts - 0.0) / 10.0 AS INTEGER)'
    >>> bucket_index_sql(((0.0, 31.0), (31.0, 59.0), (59.0, 90.0)), "postgres")
    'CASE WHEN d.ts < 31.0 THEN 0 WHEN d.ts < 59.0 THEN 1 ELSE 2 END'
    >>> bucket_index_sql(((5.0, 10.0), (10.0, 13.0)), "sqlite")  # two: the second may be clipped
    'CASE WHEN d.ts < 10.0 THEN 0 ELSE 1 END'
    """
    if len(buckets) == 1:
        return "0"
    if len(buckets) >= 3:  # an interior bucket has the full width
        width = buckets[1][1] - buckets[1][0]
        origin = buckets[0][1] - width  # where the clipped first bucket would have started
        n = len(buckets)
        if (
            buckets[0][0] >= origin
            and all(s == origin + i * width for i, (s, _) in enumerate(buckets) if i)
            and all(e == origin + (i + 1) * width for i, (_, e) in enumerate(buckets[:-1]))
            and buckets[-1][1] <= origin + n * width
        ):
            ratio = f"({column} - {_num(origin)}) / {_num(width)}"
            # Both truncate toward zero for the non-negative ratio; PostgreSQL's cast would round.
            return f"CAST(FLOOR({ratio}) AS INTEGER)" if dialect == "postgres" else f"CAST({ratio} AS INTEGER)"
    cases = " ".join(f"WHEN {column} < {_num(e)} THEN {i}" for i, (_, e) in enumerate(buckets[:-1]))
    return f"CASE {cases} ELSE {len(buckets) - 1} END"


def _facts_sql(query: DeliveryQuery, dialect: str = "sqlite") -> tuple[str, list[Any]]:
    """``CREATE TEMP TABLE`` of one row per production deploy or rollback of the query: its group,
    what it counts for and its durations (NULL where there is none)."""
    bucket = bucket_index_sql(query.buckets, dialect)
    range_start = _num(query.buckets[0][0])
    range_end = _num(query.buckets[-1][1])
    needs_team = query.team is not None or query.by == "team"
    team_expr = "COALESCE(NULLIF(d.team, ''), st.team, '')" if needs_team else "''"
    team_join = "LEFT JOIN service_teams st ON st.service = d.service" if needs_team else ""
    where = [f"LOWER(d.environment) IN ({', '.join('?' for _ in query.environments)})"]
    filters: list[Any] = [e.lower() for e in query.environments]
    if query.service is not None:
        where.append("d.service = ?")
        filters.append(query.service)
    if query.team is not None:
        where.append(f"{team_expr} = ?")
        filters.append(query.team)

    def events(kind: str) -> str:
        return f"""
  SELECT {bucket} AS b_idx, d.id, d.service, d.ts, d.commit_ts, d.artifact, {team_expr} AS team
  FROM deployments d
  {team_join}
  WHERE d.kind = '{kind}' AND d.ts >= {range_start} AND d.ts < {range_end} AND {" AND ".join(where)}"""

    sql = f"""
CREATE TEMP TABLE {FACTS} AS
WITH deploys AS ({events("deploy")}),
rollbacks AS ({events("rollback")}),
inc AS MATERIALIZED (
  SELECT deployment_id, COUNT(*) AS n_all, SUM(1 - fp) AS n_real,
    MIN(CASE WHEN fp = 0 THEN opened_at END) AS opened,
    MAX(CASE WHEN fp = 0 THEN resolved_at END) AS resolved,
    SUM(CASE WHEN fp = 0 AND resolved_at IS NULL THEN 1 ELSE 0 END) AS unresolved
  FROM (
    SELECT i.deployment_id, i.opened_at, i.resolved_at,
      CASE WHEN {_LATEST_LABEL.format(kind="incident", target="i.id")} = 'false_positive' THEN 1 ELSE 0 END AS fp
    FROM incidents i WHERE i.opened_at >= {range_start} - 86400 AND i.deployment_id IS NOT NULL
  ) i1
  GROUP BY deployment_id
),
f1 AS (
  SELECT x.b_idx, x.team, x.service, x.ts, v.verdict, v.decided_at,
    CASE WHEN v.verdict = 'fail' AND {_LATEST_LABEL.format(kind="deployment", target="x.id")} = 'false_positive'
         THEN 1 ELSE 0 END AS verdict_fp,
    CASE WHEN r.id IS NULL THEN 0 ELSE 1 END AS rolled_back,
    CASE WHEN r.id IS NULL THEN NULL WHEN r.verdict = 'pass' THEN r.decided_at
         WHEN r.verdict = 'fail' THEN NULL ELSE r.ts END AS recovered,
    COALESCE(inc.n_all, 0) AS n_all, COALESCE(inc.n_real, 0) AS n_real, inc.opened,
    CASE WHEN inc.n_real > 0 AND inc.unresolved = 0 THEN inc.resolved END AS inc_resolved,
    CASE WHEN x.commit_ts IS NOT NULL THEN x.commit_ts
         WHEN x.artifact <> '' THEN (SELECT MAX(c.ts) FROM changes c WHERE c.artifact = x.artifact AND c.ts <= x.ts)
    END AS commit_at
  FROM deploys x
  LEFT JOIN verdicts v ON v.deployment_id = x.id
  LEFT JOIN {ROLLED} r ON r.prev_id = x.id
  LEFT JOIN inc ON inc.deployment_id = x.id
),
f2 AS (
  SELECT f1.*,
    CASE WHEN (verdict = 'fail' AND verdict_fp = 0) OR rolled_back = 1 OR n_real > 0 THEN 1 ELSE 0 END AS failed,
    COALESCE(opened, CASE WHEN verdict = 'fail' AND verdict_fp = 0 THEN decided_at END, ts) AS restore_from,
    CASE WHEN inc_resolved IS NULL THEN recovered WHEN recovered IS NULL THEN inc_resolved
         WHEN recovered < inc_resolved THEN recovered ELSE inc_resolved END AS restore_to
  FROM f1
)
SELECT b_idx, team, service, 1 AS is_deploy, failed,
  CASE WHEN verdict = 'fail' AND verdict_fp = 0 THEN 1 ELSE 0 END AS failed_verdict,
  rolled_back,
  CASE WHEN n_real > 0 THEN 1 ELSE 0 END AS with_incident,
  CASE WHEN failed = 0 AND (verdict = 'fail' OR n_all > 0) THEN 1 ELSE 0 END AS excluded,
  CASE WHEN failed = 1 AND restore_to IS NULL THEN 1 ELSE 0 END AS unrestored,
  CASE WHEN commit_at IS NOT NULL THEN ts - commit_at END AS lead_s,
  CASE WHEN failed = 1 AND restore_to IS NOT NULL THEN
    CASE WHEN restore_to > restore_from THEN restore_to - restore_from ELSE 0 END END AS restore_s,
  CASE WHEN verdict IN ('pass', 'fail', 'inconclusive') AND decided_at IS NOT NULL THEN decided_at - ts END
    AS verdict_s
FROM f2
UNION ALL
SELECT b_idx, team, service, 0, 0, 0, 0, 0, 0, 0, NULL, NULL, NULL FROM rollbacks"""
    return sql, [*filters, *filters]


_MEASURES = ("lead", "restore", "verdict")
_COUNTS = """
  SUM(is_deploy), SUM(1 - is_deploy), COUNT(DISTINCT CASE WHEN is_deploy = 1 THEN service END),
  SUM(failed), SUM(failed_verdict), SUM(rolled_back), SUM(with_incident), SUM(excluded), SUM(unrestored),
  COUNT(lead_s), COUNT(restore_s), COUNT(verdict_s)"""
# Each duration, keyed by its group and measure, indexed for the percentile look-ups below.
_VALS = f"""
CREATE TEMP TABLE {VALS} AS
SELECT {{key}} AS k, 'lead' AS m, lead_s AS v FROM {FACTS} WHERE lead_s IS NOT NULL
UNION ALL SELECT {{key}}, 'restore', restore_s FROM {FACTS} WHERE restore_s IS NOT NULL
UNION ALL SELECT {{key}}, 'verdict', verdict_s FROM {FACTS} WHERE verdict_s IS NOT NULL"""


def _ranks(n: int) -> tuple[int, int, int]:
    """0-based ranks of the median's two middle values and of the 90th percentile (nearest rank).

    >>> _ranks(1), _ranks(4), _ranks(10)
    ((0, 0, 0), (1, 2, 3), (4, 5, 8))
    """
    return (n + 1) // 2 - 1, (n + 2) // 2 - 1, (9 * n + 9) // 10 - 1


def _lookups(where: str, n: int) -> str:
    """The median (one index walk to the middle, averaging one or two values) and the p90 (walked
    to from the top end: a tenth of the way), as two scalar subqueries."""
    lo, hi, p90 = _ranks(n)
    median = f"(SELECT AVG(v) FROM (SELECT v FROM {VALS} WHERE {where} ORDER BY v LIMIT {hi - lo + 1} OFFSET {lo}) mid)"
    top = f"(SELECT v FROM {VALS} WHERE {where} ORDER BY v DESC LIMIT 1 OFFSET {n - 1 - p90})"
    return f"{median}, {top}"


def _percentiles(
    cur: Any, dialect_sql: Callable[[str], str], wanted: list[tuple[Any, str, int]]
) -> dict[tuple[Any, str], Spread]:
    """Median and p90 of each (group, measure) holding n values, read through the index at their
    ranks, many look-ups to a statement."""
    out: dict[tuple[Any, str], Spread] = {}
    for at in range(0, len(wanted), 200):
        chunk = wanted[at : at + 200]
        parts, params = [], []
        for i, (group, measure, n) in enumerate(chunk):
            where = f"m = '{measure}'" + ("" if group is _TOTAL else " AND k = ?")
            parts.append(f"SELECT {i}, {_lookups(where, n)}")
            if group is not _TOTAL:
                params.extend([group] * 2)
        cur.execute(dialect_sql(" UNION ALL ".join(parts)), params)
        for i, median, p90 in cur.fetchall():
            group, measure, n = chunk[int(i)]
            out[(group, measure)] = Spread(n, float(median), float(p90))
    return out


_TOTAL = object()

# PostgreSQL: the same ranks by window functions over the durations table, groups and totals in one
# statement. Its sorts are quick where SQLite's windows cost more than the rest of a report, and its
# per-look-up overhead is what SQLite's is not: each engine gets the way that is cheap for it.
# The grouping is named in the text: psycopg prepares a statement run five times, and a prepared
# plan may not change its result type (k is a number by bucket, text by team).
_WINDOWED = f"""
-- by {{key}}
WITH g AS (
  SELECT 0 AS total, k, m, v, ROW_NUMBER() OVER (PARTITION BY k, m ORDER BY v) AS rn,
    COUNT(*) OVER (PARTITION BY k, m) AS n
  FROM {VALS}
  UNION ALL
  SELECT 1, NULL, m, v, ROW_NUMBER() OVER (PARTITION BY m ORDER BY v), COUNT(*) OVER (PARTITION BY m)
  FROM {VALS}
)
SELECT total, k, m, n,
  AVG(CASE WHEN rn = (n + 1) / 2 OR rn = (n + 2) / 2 THEN v END),
  MAX(CASE WHEN rn = (9 * n + 9) / 10 THEN v END)
FROM g WHERE rn = (n + 1) / 2 OR rn = (n + 2) / 2 OR rn = (9 * n + 9) / 10
GROUP BY total, k, m, n"""


def _percentiles_windowed(cur: Any, key: str) -> dict[tuple[Any, str], Spread]:
    cur.execute(_WINDOWED.format(key=key))
    return {
        (_TOTAL if total == 1 else k, m): Spread(int(n), float(median), float(p90))
        for total, k, m, n, median, p90 in cur.fetchall()
    }


def run_delivery_query(
    cur: Any, query: DeliveryQuery, dialect_sql: Callable[[str], str], dialect: str = "sqlite"
) -> DeliveryStats:
    """Run the statements on a DB-API cursor (in one transaction); ``dialect_sql`` adapts markers."""
    key = "b_idx" if query.by == "bucket" else "team"
    if dialect == "postgres":
        # The rank sorts (100 k durations for a year of 50 k deploys) spill to disk at the default
        # 4 MB; this transaction only.
        cur.execute("SET LOCAL work_mem = '64MB'")
    for table in (ROLLED, FACTS, VALS):
        cur.execute(f"DROP TABLE IF EXISTS {table}")
    cur.execute(_rolled_sql(query))
    cur.execute(f"CREATE INDEX {ROLLED}_prev ON {ROLLED} (prev_id)")
    if dialect == "postgres":
        # A new table has no statistics: PostgreSQL would probe it once per deploy, not hash it.
        cur.execute(f"ANALYZE {ROLLED}")
    facts, params = _facts_sql(query, dialect)
    cur.execute(dialect_sql(facts), params)
    cur.execute(
        f"SELECT 1, NULL, {_COUNTS} FROM {FACTS} UNION ALL SELECT 0, {key}, {_COUNTS} FROM {FACTS} GROUP BY {key}"
    )
    counts: dict[Any, Counts] = {}
    total_counts = Counts()
    wanted: list[tuple[Any, str, int]] = []
    for row in cur.fetchall():
        group = _TOTAL if row[0] == 1 else row[1]
        c = Counts(*(int(n or 0) for n in row[2:11]))
        if group is _TOTAL:
            total_counts = c
        else:
            counts[group] = c
        wanted.extend((group, m, int(n)) for m, n in zip(_MEASURES, row[11:14], strict=True) if n)
    cur.execute(_VALS.format(key=key))
    if dialect == "postgres":
        spreads = _percentiles_windowed(cur, key)
    else:
        cur.execute(f"CREATE INDEX {VALS}_mkv ON {VALS} (m, k, v)")
        cur.execute(f"CREATE INDEX {VALS}_mv ON {VALS} (m, v)")
        spreads = _percentiles(cur, dialect_sql, wanted)
    for table in (ROLLED, FACTS, VALS):
        cur.execute(f"DROP TABLE {table}")

    def group_stats(g: Any, c: Counts) -> GroupStats:
        empty = Spread()
        return GroupStats(
            c,
            spreads.get((g, "lead"), empty),
            spreads.get((g, "restore"), empty),
            spreads.get((g, "verdict"), empty),
        )

    return DeliveryStats(group_stats(_TOTAL, total_counts), {g: group_stats(g, c) for g, c in sorted(counts.items())})
