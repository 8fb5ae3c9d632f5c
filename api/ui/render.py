"""Templates in, HTML out: one Jinja2 environment over the templates shipped in the package.

Autoescaping is on for every template (service names, versions and notes come from outside), and
every page carries a Content-Security-Policy that allows nothing but this console: no inline
script, no third-party anything, which is also why it works without internet access.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, select_autoescape

from aiops.api.ui.session import Viewer, remember_csrf

CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)


def fmt_ts(ts: float | None) -> str:
    """Epoch seconds as UTC, the way an SRE compares them with logs.

    >>> fmt_ts(1795000000.0)
    '2026-11-18 11:06:40Z'
    """
    if ts is None:
        return "-"
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def fmt_change(change: float | None) -> str:
    """A relative change as a signed percentage.

    >>> fmt_change(0.5), fmt_change(-0.034), fmt_change(None)
    ('+50.0%', '-3.4%', '-')
    """
    return "-" if change is None else f"{change:+.1%}"


def fmt_num(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


@cache
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("aiops.api.ui", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(ts=fmt_ts, change=fmt_change, num=fmt_num)
    return env


def page(
    request: Request, template: str, viewer: Viewer | None, status_code: int = 200, **context: Any
) -> HTMLResponse:
    """Render ``template`` for ``viewer`` (None on the login page) with the console's headers."""
    html = environment().get_template(template).render(request=request, viewer=viewer, **context)
    response = HTMLResponse(html, status_code=status_code)
    response.headers["content-security-policy"] = CSP
    response.headers["x-content-type-options"] = "nosniff"
    response.headers["referrer-policy"] = "same-origin"
    response.headers["cache-control"] = "no-store"
    if viewer is not None:
        remember_csrf(request, response, viewer)
    return response
