"""The incident console at ``/ui`` (docs/contracts.md section 11): server-rendered pages over the store.

:func:`install` adds the pages, the forms and the stylesheet to an app built by ``create_app``,
with the handlers that turn "log in first" and "not allowed" into pages rather than JSON.
"""

from __future__ import annotations

from importlib import resources

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response

from aiops.api.ui import actions, pages
from aiops.api.ui.render import page
from aiops.api.ui.session import Forbidden, LoginRequired


def _stylesheet() -> Response:
    css = (resources.files("aiops.api.ui") / "static" / "console.css").read_text()
    return Response(css, media_type="text/css", headers={"cache-control": "max-age=300"})


def install(app: FastAPI) -> None:
    """Serve the console from ``app`` (same store, settings and tokens as the API)."""
    app.include_router(pages.router)
    app.include_router(actions.router)
    app.add_api_route("/ui/static/console.css", _stylesheet, methods=["GET"], include_in_schema=False)

    @app.exception_handler(LoginRequired)
    async def login_first(request: Request, exc: LoginRequired) -> Response:
        from urllib.parse import urlencode

        return RedirectResponse(f"/ui/login?{urlencode({'next': exc.next_path})}", status_code=303)

    @app.exception_handler(Forbidden)
    async def forbidden(request: Request, exc: Forbidden) -> Response:
        return page(request, "error.html", None, 403, title="Not allowed", message=str(exc))

    @app.exception_handler(pages.PageError)
    async def not_found(request: Request, exc: pages.PageError) -> Response:
        return page(request, "error.html", None, exc.status_code, title="Not here", message=exc.message)
