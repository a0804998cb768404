"""The facility manager's dashboard, as a factory: `create_app(config)`.

Server-rendered pages (Jinja2, autoescaped) and a JSON API under /api/ (spec checked in as
web/openapi.json). Every route needs a session except /login, /setup, /health and /static; no
account exists until the first-run setup, which needs the appliance's one-time code.

This module is the web's composition: the per-app context (web/routes/deps.py `Web`), the
security headers and limits, the error handlers, and the routers, one per resource
(web/routes/*.py, web/rental.py, web/routes_compliance.py). The web process does no network
or capability work and starts no process: what needs the agent is a request in the commands
table (web/commands.py), which the agent carries out.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from appliance.config import Config
from appliance.store import StoreError
from web import limits, rental, routes_compliance, search
from web import security as sec
from web.routes import api, auth, devices, exports, findings, measures, overview, probes, wifi
from web.routes import settings as settings_routes
from web.routes.deps import Forbidden, NeedLogin, Web
from web.routes.models import StatusChange

__all__ = ["CSP", "ROUTERS", "Forbidden", "NeedLogin", "StatusChange", "create_app"]

log = logging.getLogger("officeguard.web")
HERE = Path(__file__).resolve().parent
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
       "form-action 'self'; frame-ancestors 'none'")

# one router per resource, in this order. A new group (e.g. the search box, web/search.py)
# exposes `router = APIRouter()` using web/routes/deps.py and is added here; a module that
# still has the old `register(app, config, store, page, session, admin, check_csrf)` can be
# called in create_app below with `web.config, web.store, web.page, deps.session, deps.admin,
# web.check_csrf` (the same values the closure used to hand out).
ROUTERS: list[APIRouter] = [
    auth.router, overview.router, findings.router, measures.router, routes_compliance.router,
    wifi.router, devices.router, rental.router, probes.router, exports.router,
    settings_routes.router, search.router, api.router,
]


def create_app(config: Config, db_path: str | Path | None = None, secure_cookies: bool = True,
               compliance_ttl_s: float = 10.0, counts_ttl_s: float = 2.0,
               worker_threads: int = 4) -> FastAPI:
    path = Path(db_path) if db_path else config.data_dir / "officeguard.db"
    web = Web(config, path, secure_cookies, compliance_ttl_s, counts_ttl_s)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        path.parent.mkdir(parents=True, exist_ok=True)
        # a few worker threads are enough behind one GIL, and each keeps its own read
        # connection (and SQLite page cache): four bound the memory under load
        import anyio.to_thread

        anyio.to_thread.current_default_thread_limiter().total_tokens = worker_threads
        store = web.open()
        app.state.store = store
        if not store.read_with(sec.has_users):
            sec.ensure_setup_code(config)
        try:
            yield
        finally:
            store.close()

    # the spec is checked in (web/openapi.json), not served: nothing but login, setup and the
    # health check answers without a session
    app = FastAPI(title="OfficeGuard", version="0.2.0", docs_url=None, redoc_url=None,
                  openapi_url=None, lifespan=lifespan)
    app.state.config = config
    app.state.web = web
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    # -- cross-cutting: headers, sessions, language ----------------------------------------
    static_prefix = b"/static/"
    base_headers = [(b"content-security-policy", CSP.encode()), (b"x-frame-options", b"DENY"),
                    (b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer"),
                    (b"cross-origin-opener-policy", b"same-origin"),
                    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()")]
    if secure_cookies:
        base_headers.append((b"strict-transport-security", b"max-age=31536000"))

    class Headers:
        """Security headers on every response (a plain ASGI wrapper: no per-request copy of
        the body, unlike an HTTP middleware)."""

        def __init__(self, inner: Any) -> None:
            self.inner = inner

        async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] != "http":
                await self.inner(scope, receive, send)
                return
            extra = list(base_headers)
            if not scope["path"].encode().startswith(static_prefix):
                extra.append((b"cache-control", b"no-store"))

            async def with_headers(message: Any) -> None:
                if message["type"] == "http.response.start":
                    message["headers"] = [*message.get("headers", []), *extra]
                await send(message)

            await self.inner(scope, receive, with_headers)

    app.add_middleware(Headers)
    # outermost: Host allow-list, body cap and same-origin posts before anything reads the
    # request; an unhandled error still gets the security headers
    app.add_middleware(limits.Limits, max_body=config.web.max_body_kib * 1024,
                       hosts=limits.HostCheck([config.web.host, *config.web.allowed_hosts]),
                       headers=[*base_headers, (b"cache-control", b"no-store")])

    @app.exception_handler(NeedLogin)
    async def need_login(request: Request, _exc: NeedLogin) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": "login required"}, status_code=401)
        nxt = quote(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
        return RedirectResponse(f"/login?next={nxt}", status_code=303)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
        # FastAPI's own handler echoes the input, and fails (500) on bytes that are not UTF-8;
        # say where and what is wrong, never repeat what was sent
        errors = [{"loc": [str(x) for x in e.get("loc", ())], "msg": str(e.get("msg", "")),
                   "type": str(e.get("type", ""))} for e in exc.errors()]
        return JSONResponse({"detail": errors}, status_code=422)

    @app.exception_handler(Forbidden)
    async def forbidden(request: Request, exc: Forbidden) -> Response:
        return JSONResponse({"detail": str(exc) or "forbidden"}, status_code=403)

    @app.exception_handler(StoreError)
    async def store_error(request: Request, exc: StoreError) -> Response:
        log.error("store: %s", exc)
        return JSONResponse({"detail": "the database is unavailable; nothing was changed"},
                            status_code=503)

    # -- public ------------------------------------------------------------------------------
    icon = (HERE / "static" / "favicon.ico").read_bytes()

    async def favicon(_request: Request) -> Response:
        """A static file at the path browsers ask for (public, like /static)."""
        return Response(icon, media_type="image/vnd.microsoft.icon")

    app.router.add_route("/favicon.ico", favicon, methods=["GET"], include_in_schema=False)
    for router in ROUTERS:
        app.include_router(router)
    return app
