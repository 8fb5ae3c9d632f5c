"""Who is looking at the console, and may they act: the API's tokens, kept in a cookie.

The console speaks the API's auth (docs/contracts.md section 8) so that there is one list of secrets:
with ``AIOPS_API_TOKENS`` set, the login form takes a token and keeps it in an HttpOnly,
SameSite=Strict cookie (Secure over https) that scripts cannot read; read tokens see, write tokens
act. Without tokens (loopback only) everyone may act, as with the API.

Forms are CSRF-safe by double submit: a random value lives in its own HttpOnly cookie and is
repeated in a hidden field of every form; a POST whose field does not match the cookie, or whose
``Origin`` names another site, is refused. A cross-site page can make the browser send the cookie
(SameSite=Strict already stops that in current browsers) but cannot read it to fill the field.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

from fastapi import Request, Response

from aiops.api.auth import SCOPES
from aiops.config import ApiToken

TOKEN_COOKIE = "aiops_token"
CSRF_COOKIE = "aiops_csrf"
MAX_FORM_BYTES = 64 << 10


class LoginRequired(Exception):
    """No valid token cookie while tokens are configured: the page sends the browser to log in."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


class Forbidden(Exception):
    """The viewer may not do this (read token on a write action, bad CSRF field): the message says why."""


@dataclass(frozen=True, slots=True)
class Viewer:
    name: str  # token name, or "anonymous" without tokens
    can_write: bool
    csrf: str
    new_csrf: bool  # the CSRF cookie must be set on the response
    auth_enabled: bool


def match_token(tokens: tuple[ApiToken, ...], secret: str) -> ApiToken | None:
    """The token whose secret is ``secret``, compared in constant time against every one."""
    found = None
    for token in tokens:
        if hmac.compare_digest(token.secret.encode(), secret.strip().encode()):
            found = token
    return found


def current_viewer(request: Request) -> Viewer:
    """The viewer of this request; raises :class:`LoginRequired` when tokens are set and none is held."""
    tokens: tuple[ApiToken, ...] = request.app.state.settings.tokens
    csrf = request.cookies.get(CSRF_COOKIE, "")
    new_csrf = len(csrf) < 32
    if new_csrf:
        csrf = secrets.token_urlsafe(32)
    if not tokens:
        return Viewer("anonymous", True, csrf, new_csrf, False)
    token = match_token(tokens, request.cookies.get(TOKEN_COOKIE, ""))
    if token is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(target)
    return Viewer(token.name, SCOPES[token.scope] >= SCOPES["write"], csrf, new_csrf, True)


def set_cookie(request: Request, response: Response, name: str, value: str, max_age: int | None = None) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/ui",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def remember_csrf(request: Request, response: Response, viewer: Viewer) -> None:
    if viewer.new_csrf:
        set_cookie(request, response, CSRF_COOKIE, viewer.csrf)


async def read_form(request: Request) -> dict[str, str]:
    """A url-encoded form body (what HTML forms send); the last value wins for a repeated field."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        raise Forbidden(f"content-type: expected application/x-www-form-urlencoded, got {kind or 'none'!r}")
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise Forbidden(f"body: larger than {MAX_FORM_BYTES} bytes")
    try:
        return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    except UnicodeDecodeError:
        raise Forbidden("body: not UTF-8") from None


def check_csrf(request: Request, form: dict[str, str]) -> None:
    """Refuse a POST that did not come from one of our own pages."""
    origin = request.headers.get("origin")
    if origin and origin != "null":
        host = urlsplit(origin).netloc
        if host != request.headers.get("host", ""):
            raise Forbidden(f"origin: {origin!r} is not this console")
    cookie = request.cookies.get(CSRF_COOKIE, "")
    field = form.get("csrf", "")
    if not cookie or not field or not hmac.compare_digest(cookie.encode(), field.encode()):
        raise Forbidden("csrf: the form's token does not match this browser's; reload the page and try again")


def safe_next(path: str | None) -> str:
    """Only a path inside the console: ``next`` must never send a logged-in browser elsewhere."""
    if path and path.startswith("/ui") and not path.startswith("//") and "\\" not in path:
        return path
    return "/ui"
