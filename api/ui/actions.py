"""The console's forms (POST): log in and out, acknowledge, resolve, give feedback.

Each action checks the CSRF field, needs a write token (when tokens are configured), calls the
same functions the JSON API does, and answers 303 back to the page (post/redirect/get, so a
reload does not act twice) with what happened in the query string.
"""

from __future__ import annotations

import secrets
from typing import Annotated
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from aiops.api.deps import PipelineDep, StoreDep
from aiops.api.routes.feedback import _record
from aiops.api.routes.incidents import _set_status
from aiops.api.schemas import FeedbackIn
from aiops.api.ui.render import page
from aiops.api.ui.session import (
    CSRF_COOKIE,
    TOKEN_COOKIE,
    Forbidden,
    Viewer,
    check_csrf,
    current_viewer,
    match_token,
    read_form,
    safe_next,
    set_cookie,
)
from aiops.model import FeedbackLabel, IncidentStatus

router = APIRouter(include_in_schema=False)
ViewerDep = Annotated[Viewer, Depends(current_viewer)]
SESSION_S = 12 * 3600


def _login_viewer(request: Request) -> Viewer:
    """The login page has no logged-in viewer, but its form needs a CSRF value all the same."""
    csrf = request.cookies.get(CSRF_COOKIE, "")
    if len(csrf) >= 32:
        return Viewer("", False, csrf, False, True)
    return Viewer("", False, secrets.token_urlsafe(32), True, True)


@router.get("/ui/login", response_class=HTMLResponse)
def login_form(request: Request, next: Annotated[str, Query(max_length=1000)] = "/ui") -> Response:
    if not request.app.state.settings.tokens:
        return RedirectResponse(safe_next(next), status_code=303)
    return page(request, "login.html", _login_viewer(request), next=safe_next(next), error="")


@router.post("/ui/login", response_class=HTMLResponse)
async def login(request: Request) -> Response:
    form = await read_form(request)
    check_csrf(request, form)
    target = safe_next(form.get("next"))
    tokens = request.app.state.settings.tokens
    if not tokens:
        return RedirectResponse(target, status_code=303)
    token = match_token(tokens, form.get("token", ""))
    if token is None:
        return page(request, "login.html", _login_viewer(request), 401, next=target, error="token: not a known token")
    response = RedirectResponse(target, status_code=303)
    set_cookie(request, response, TOKEN_COOKIE, token.secret, max_age=SESSION_S)
    return response


@router.post("/ui/logout")
async def logout(request: Request) -> Response:
    form = await read_form(request)
    check_csrf(request, form)
    response = RedirectResponse("/ui/login", status_code=303)
    response.delete_cookie(TOKEN_COOKIE, path="/ui")
    return response


async def _writer(request: Request, viewer: Viewer) -> dict[str, str]:
    form = await read_form(request)
    check_csrf(request, form)
    if not viewer.can_write:
        raise Forbidden(f"token {viewer.name!r} has scope 'read'; acting on incidents needs 'write'")
    return form


def _back(incident_id: str, **outcome: str) -> RedirectResponse:
    return RedirectResponse(f"/ui/incidents/{quote(incident_id, safe='')}?{urlencode(outcome)}", status_code=303)


@router.post("/ui/incidents/{incident_id}/acknowledge")
async def acknowledge(incident_id: str, request: Request, store: StoreDep, viewer: ViewerDep) -> Response:
    await _writer(request, viewer)
    return _change(store, incident_id, IncidentStatus.ACKNOWLEDGED)


@router.post("/ui/incidents/{incident_id}/resolve")
async def resolve(incident_id: str, request: Request, store: StoreDep, viewer: ViewerDep) -> Response:
    await _writer(request, viewer)
    return _change(store, incident_id, IncidentStatus.RESOLVED)


def _change(store: StoreDep, incident_id: str, status: IncidentStatus) -> Response:
    try:
        _set_status(store, incident_id, status)
    except HTTPException as exc:
        return _back(incident_id, error=str(exc.detail))
    return _back(incident_id, done=status.value)


@router.post("/ui/incidents/{incident_id}/feedback")
async def feedback(
    incident_id: str, request: Request, store: StoreDep, pipeline: PipelineDep, viewer: ViewerDep
) -> Response:
    form = await _writer(request, viewer)
    try:
        label = FeedbackLabel(form.get("label", ""))
    except ValueError:
        return _back(incident_id, error="label: choose true_positive or false_positive")
    incident = store.get_incident(incident_id)
    if incident is None:
        return _back(incident_id, error=f"incident {incident_id!r} is unknown")
    note = form.get("note", "")[:2000]
    try:
        _record(
            store,
            pipeline,
            "incident",
            incident_id,
            incident.service,
            incident.evidence,
            FeedbackIn(label=label, note=note),
        )
    except HTTPException as exc:
        return _back(incident_id, error=str(exc.detail))
    return _back(incident_id, done=f"feedback {label.value}")
