"""A hand-computed delivery history: three services, three weeks, rollbacks, false-positive feedback.

Weeks start on Monday 2026-11-02 (W0). Times are ``H`` hours and ``D`` days. Every number the tests
assert is worked out by hand in the comments below (``lead``, ``verdict`` and ``restore`` are
seconds; "failed" means counted in the change-failure rate).

Week 0
  d1  api     W0+1D+10H  commit -2H      pass +1800                              lead 7200, verdict 1800
  d2  api     W0+2D+10H  commit -26H     fail +600, incident i1 opened +300,     lead 93600, verdict 600,
              rollback r1 at +1H (pass at r1+1800), i1 resolved at +5400         FAILED, restore 5400-300 = 5100
  d3  web     W0+3D+12H  -               fail +900, feedback: false positive     verdict 900, EXCLUDED
  d4  search  W0+4D+9H   change.merged -3H on its artifact, pass +1800           lead 10800, verdict 1800
  (api to staging at W0+1D, failed: not production, not counted)
Week 1
  d5  api     W1+1D+10H  commit -1H      pass +1800, incident i2 +3600 called a  lead 3600, verdict 1800,
                                         false positive                          EXCLUDED
  d6  web     W1+2D+10H  commit -4H      inconclusive +1800, incident i3 +600    lead 14400, verdict 1800,
                                         resolved 30H later                      FAILED, restore 108000
  d7  search  W1+3D+10H  commit -30min   fail +300, feedback FP then TP (latest  lead 1800, verdict 300,
                                         counts)                                 FAILED, unrestored
  d8  web     W1+4D+10H  -               no verdict yet                          -
Week 2
  d9  api     W2+1D+10H  commit -5H      pass +1800, rollback r2 at +2H (no      lead 18000, verdict 1800,
                                         verdict)                                FAILED, restore 7200
  d10 search  W2+2D+10H  changes merged -10H, -2H (and +1H, after: ignored)      lead 7200, verdict 1800
  d11 web     W2+3D+10H  commit -1D, team growth; fail +600, incident i4 +400    lead 86400, verdict 600,
              never resolved; rollback r3 at +1H failed its verdict              FAILED, unrestored
(and api deploys just before W0 and just after W2 ends: outside the range)

Teams: api deploys say "payments", search deploys "find", d11 "growth"; the mapping says web and api
are payments (rollbacks name no team: they take the mapping's).
"""

from __future__ import annotations

from aiops.model import (
    ChangeEvent,
    DeployEvent,
    DeployKind,
    Effects,
    Feedback,
    FeedbackLabel,
    Incident,
    IncidentStatus,
    Verdict,
    VerdictResult,
)
from aiops.store.base import Store

H = 3600.0
D = 86400.0
W0 = 1793577600.0  # Monday 2026-11-02 00:00 UTC
W1 = W0 + 7 * D
W2 = W0 + 14 * D
END = W0 + 21 * D
TEAMS = {"web": "payments", "api": "payments"}

TEAM_OF = {"api": "payments", "search": "find", "web": ""}


def _deploy(name: str, service: str, ts: float, commit: float | None = None, **kw: str) -> DeployEvent:
    team = kw.get("team", TEAM_OF[service])
    env, artifact = kw.get("env", "prod"), kw.get("art", "")
    return DeployEvent(name, service, name, ts, DeployKind.DEPLOY, env, team, commit, artifact)


def _rollback(name: str, service: str, ts: float) -> DeployEvent:
    return DeployEvent(name, service, "previous", ts, DeployKind.ROLLBACK, "prod")


def _verdict(d: DeployEvent, result: str, after: float) -> Verdict:
    return Verdict(d.id, d.service, VerdictResult(result), 50.0, d.ts + after, version=d.version)


def _incident(name: str, d: DeployEvent, opened: float, resolved: float | None = None) -> Incident:
    status = IncidentStatus.RESOLVED if resolved is not None else IncidentStatus.OPEN
    return Incident(name, d.service, d.ts + opened, d.id, 0.9, ("latency",), status, resolved_at=resolved)


def _feedback(name: str, kind: str, target: str, label: str, service: str, ts: float) -> Feedback:
    return Feedback(kind, target, FeedbackLabel(label), service, (), "", ts, name)


def load(store: Store) -> None:
    """Write the history above into ``store`` (and the service-team mapping)."""
    d1 = _deploy("d1", "api", W0 + 1 * D + 10 * H, W0 + 1 * D + 8 * H)
    d2 = _deploy("d2", "api", W0 + 2 * D + 10 * H, W0 + 2 * D + 10 * H - 26 * H)
    r1 = _rollback("r1", "api", d2.ts + H)
    d3 = _deploy("d3", "web", W0 + 3 * D + 12 * H)
    d4 = _deploy("d4", "search", W0 + 4 * D + 9 * H, art="pkg:oci/search@sha256:aa")
    staging = _deploy("s1", "api", W0 + 1 * D, W0, env="staging")
    d5 = _deploy("d5", "api", W1 + 1 * D + 10 * H, W1 + 1 * D + 9 * H)
    d6 = _deploy("d6", "web", W1 + 2 * D + 10 * H, W1 + 2 * D + 6 * H)
    d7 = _deploy("d7", "search", W1 + 3 * D + 10 * H, W1 + 3 * D + 10 * H - 1800)
    d8 = _deploy("d8", "web", W1 + 4 * D + 10 * H)
    d9 = _deploy("d9", "api", W2 + 1 * D + 10 * H, W2 + 1 * D + 5 * H)
    r2 = _rollback("r2", "api", d9.ts + 2 * H)
    d10 = _deploy("d10", "search", W2 + 2 * D + 10 * H, art="pkg:oci/search@sha256:bb")
    d11 = _deploy("d11", "web", W2 + 3 * D + 10 * H, W2 + 2 * D + 10 * H, team="growth")
    r3 = _rollback("r3", "web", d11.ts + H)
    before = _deploy("d0", "api", W0 - H, W0 - 2 * H)
    after = _deploy("d12", "api", END + H, END)
    deploys = [d1, d2, r1, d3, d4, staging, d5, d6, d7, d8, d9, r2, d10, d11, r3, before, after]
    verdicts = [
        _verdict(d1, "pass", 1800),
        _verdict(d2, "fail", 600),
        _verdict(r1, "pass", 1800),
        _verdict(d3, "fail", 900),
        _verdict(d4, "pass", 1800),
        _verdict(staging, "fail", 600),
        _verdict(d5, "pass", 1800),
        _verdict(d6, "inconclusive", 1800),
        _verdict(d7, "fail", 300),
        _verdict(d9, "pass", 1800),
        _verdict(d10, "pass", 1800),
        _verdict(d11, "fail", 600),
        _verdict(r3, "fail", 600),
        _verdict(before, "fail", 600),
        _verdict(after, "fail", 600),
    ]
    incidents = [
        _incident("i1", d2, 300, d2.ts + 5400),
        _incident("i2", d5, 3600),
        _incident("i3", d6, 600, d6.ts + 600 + 30 * H),
        _incident("i4", d11, 400),
        _incident("i0", before, 60),  # outside the range
    ]
    changes = [
        ChangeEvent("c1", "pkg:oci/search@sha256:aa", d4.ts - 3 * H),
        ChangeEvent("c2", "pkg:oci/search@sha256:bb", d10.ts - 10 * H),
        ChangeEvent("c3", "pkg:oci/search@sha256:bb", d10.ts - 2 * H),
        ChangeEvent("c4", "pkg:oci/search@sha256:bb", d10.ts + H),
    ]
    store.write(Effects(deploys=deploys, verdicts=verdicts, incidents=incidents, changes=changes))
    for fb in (
        _feedback("f1", "deployment", "d3", "false_positive", "web", d3.ts + H),
        _feedback("f2", "incident", "i2", "false_positive", "api", d5.ts + 2 * H),
        _feedback("f3", "deployment", "d7", "false_positive", "search", d7.ts + H),
        _feedback("f4", "deployment", "d7", "true_positive", "search", d7.ts + 2 * H),
    ):
        store.add_feedback(fb)
    store.set_service_teams(TEAMS)
