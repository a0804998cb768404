"""The facility manager's dashboard, as a factory: `create_app(config)`.

Server-rendered pages (Jinja2, autoescaped) and a JSON API under /api/ (spec checked in as
web/openapi.json). Every route needs a session except /login, /setup, /health and /static; no
account exists until the first-run setup, which needs the appliance's one-time code.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from fastapi import Depends, FastAPI, Form, Header, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import (
    HTMLResponse,
    JSONResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup
from pydantic import BaseModel, Field

from appliance import wording
from appliance.compliance import todo_list
from appliance.config import Config, ConfigError
from appliance.display import display_safe
from appliance.guideline import catalog_for
from appliance.store import Store, StoreError
from appliance.store import exports as exports_q
from web import charts, data, i18n, limits, routes_compliance, settings_form
from web import security as sec

log = logging.getLogger("officeguard.web")
HERE = Path(__file__).resolve().parent
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
       "form-action 'self'; frame-ancestors 'none'")


class NeedLogin(Exception):
    pass


class Forbidden(Exception):
    pass


class StatusChange(BaseModel):
    status: str = Field(pattern="^(acknowledged|resolved)$")
    note: str = Field(default="", max_length=500)


def create_app(config: Config, db_path: str | Path | None = None, secure_cookies: bool = True,
               compliance_ttl_s: float = 10.0, counts_ttl_s: float = 2.0,
               worker_threads: int = 4) -> FastAPI:
    catalog = catalog_for(config)
    path = Path(db_path) if db_path else config.data_dir / "officeguard.db"
    env = Environment(loader=FileSystemLoader(HERE / "templates"), auto_reload=False,
                      autoescape=select_autoescape(default=True, default_for_string=True))
    env.filters["t"] = lambda ts, seconds=False: i18n.local_time(ts, config.web.timezone,
                                                                 seconds)
    # every value printed by a template: bidi overrides and control characters in names from
    # the air or the LAN are shown as ⟨U+202E⟩ markers (HTML made by us, Markup, is left alone)
    env.finalize = lambda v: display_safe(v) if isinstance(v, str) and not isinstance(
        v, Markup) else v
    env.filters["tiso"] = lambda text: i18n.local_time(i18n.parse_iso(text), config.web.timezone)
    env.filters["mid"] = wording.measure_label
    env.filters["reason"] = i18n.sensor_reason
    cache: dict[str, tuple[float, Any]] = {}
    cache_lock = threading.Lock()
    counts_cache: dict[tuple[str, str, str], tuple[float, dict[str, int]]] = {}
    counts_lock = threading.Lock()
    table_cache: dict[tuple[Any, ...], tuple[float, str, int]] = {}
    key_cache: dict[str, dict[str, str]] = {}

    def counts_for(status: str, measure: str, q: str) -> dict[str, int]:
        """Findings per severity, reused for `counts_ttl_s`: counting 100,000 rows on every
        page view is what made twenty clients wait. Changes made here clear it at once."""
        key = (status, measure, q)
        with counts_lock:
            hit = counts_cache.get(key)
            if hit and time.monotonic() - hit[0] < counts_ttl_s:
                return hit[1]
            value = store().read_with(lambda c: data.finding_counts(c, status, measure, q))
            if len(counts_cache) > 256:
                counts_cache.clear()
            counts_cache[key] = (time.monotonic(), value)
            return value

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        path.parent.mkdir(parents=True, exist_ok=True)
        # a few worker threads are enough behind one GIL, and each keeps its own read
        # connection (and SQLite page cache): four bound the memory under load
        import anyio.to_thread

        anyio.to_thread.current_default_thread_limiter().total_tokens = worker_threads
        app.state.store = Store(path, read_cache_kib=1024)
        if not app.state.store.read_with(sec.has_users):
            sec.ensure_setup_code(config)
        try:
            yield
        finally:
            app.state.store.close()

    # the spec is checked in (web/openapi.json), not served: nothing but login, setup and the
    # health check answers without a session
    app = FastAPI(title="OfficeGuard", version="0.2.0", docs_url=None, redoc_url=None,
                  openapi_url=None, lifespan=lifespan)
    app.state.config = config
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    def store() -> Store:
        s: Store = app.state.store
        return s

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

    def lang_of(request: Request) -> str:
        return i18n.pick(request.cookies.get("lang"), request.headers.get("accept-language"),
                         config.web.language)

    async def session(request: Request) -> sec.Session:
        # a primary-key lookup: cheaper in the event loop than a hop to a worker thread
        s = store().read_with(lambda c: sec.session_for(c, request.cookies.get(sec.COOKIE)))
        if s is None:
            raise NeedLogin()
        return s

    async def admin(s: sec.Session = Depends(session)) -> sec.Session:  # noqa: B008
        if not s.can_write:
            raise Forbidden("this account may read only")
        return s

    def check_csrf(s: sec.Session, form_token: str | None, header_token: str | None) -> None:
        if not sec.csrf_ok(s, form_token or header_token):
            raise Forbidden("missing or wrong CSRF token")

    def page(request: Request, name: str, s: sec.Session | None, **ctx: Any) -> HTMLResponse:
        lang = lang_of(request)
        tpl = env.get_template(name)
        html = tpl.render(_=i18n.translator(lang), lang=lang, s=s, path=request.url.path,
                          severities=data.SEVERITIES, **ctx)
        return HTMLResponse(html)

    def compliance_doc() -> dict[str, Any]:
        """Evaluated at most once per `compliance_ttl_s`, by one request at a time: twenty
        clients arriving together wait for one evaluation instead of running twenty."""
        with cache_lock:
            hit = cache.get("compliance")
            now = time.monotonic()
            if hit and now - hit[0] < compliance_ttl_s:
                return dict(hit[1])
            doc = store().read_with(lambda c: data.compliance(c, config, catalog))
            cache["compliance"] = (time.monotonic(), doc)
            return doc

    def set_cookie(resp: Response, token: str) -> None:
        resp.set_cookie(sec.COOKIE, token, max_age=int(config.web.session_hours * 3600),
                        httponly=True, secure=secure_cookies, samesite="strict", path="/")

    def safe_next(nxt: str | None) -> str:
        if not nxt or not nxt.startswith("/") or nxt.startswith("//") or "\\" in nxt \
                or urlsplit(nxt).netloc:
            return "/"
        return nxt

    # -- public ------------------------------------------------------------------------------
    icon = (HERE / "static" / "favicon.ico").read_bytes()

    async def favicon(_request: Request) -> Response:
        """A static file at the path browsers ask for (public, like /static)."""
        return Response(icon, media_type="image/vnd.microsoft.icon")

    app.router.add_route("/favicon.ico", favicon, methods=["GET"], include_in_schema=False)

    @app.get("/health", tags=["public"])
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/login", include_in_schema=False)
    def login_form(request: Request, next: str = "/", error: str = "") -> Response:  # noqa: A002
        if not store().read_with(sec.has_users):
            return RedirectResponse("/setup", status_code=303)
        return page(request, "login.html", None, next=safe_next(next), error=error)

    @app.post("/login", include_in_schema=False)
    def login_submit(request: Request, username: str = Form(..., max_length=64),
                     password: str = Form(..., max_length=256), next: str = Form("/")  # noqa: A002
                     ) -> Response:
        ip = request.client.host if request.client else "?"
        res = store().write(lambda c: sec.login(c, config, username, password, ip))
        if isinstance(res, str):
            r = page(request, "login.html", None, next=safe_next(next), error=res,
                     username=username)
            r.status_code = 429 if res == "locked" else 401
            return r
        token = res[0]
        resp = RedirectResponse(safe_next(next), status_code=303)
        set_cookie(resp, token)
        return resp

    def seen_ssids() -> list[dict[str, Any]]:
        """SSIDs the Wi-Fi sensor has already seen, strongest first: choices at setup."""
        aps = store().read_with(lambda c: data.access_points(c, config))
        best: dict[str, dict[str, Any]] = {}
        for a in aps:
            name = a.get("ssid") or ""
            if name and (name not in best or (a.get("rssi_max") or -200) > (
                    best[name].get("rssi_max") or -200)):
                best[name] = a
        return sorted(best.values(), key=lambda a: -(a.get("rssi_max") or -200))[:20]

    @app.get("/setup", include_in_schema=False)
    def setup_form(request: Request) -> Response:
        if store().read_with(sec.has_users):
            return RedirectResponse("/login", status_code=303)
        return page(request, "setup.html", None, error="",
                    code_path=str(sec.setup_code_path(config)), seen=seen_ssids())

    @app.post("/setup", include_in_schema=False)
    def setup_submit(request: Request, code: str = Form(..., max_length=64),
                     username: str = Form(..., max_length=64),
                     password: str = Form(..., max_length=256),
                     password2: str = Form(..., max_length=256),
                     facility_name: str = Form("", max_length=200),
                     ssids: str = Form("", max_length=20000),
                     ssid_pick: list[str] = Form([])  # noqa: B008
                     ) -> Response:
        facility = {"facility_name": facility_name, "ssids": ssids,
                    "ssid_pick": "\n".join(x for x in ssid_pick if x)}

        def fail(msg: str, status: int = 400) -> Response:
            r = page(request, "setup.html", None, error=msg,
                     code_path=str(sec.setup_code_path(config)), username=username,
                     seen=seen_ssids(), facility=facility)
            r.status_code = status
            return r

        if store().read_with(sec.has_users):
            return RedirectResponse("/login", status_code=303)
        ip = request.client.host if request.client else "?"
        # wrong codes lock this address only, for web.lockout_minutes: another host on the
        # LAN cannot keep the setup locked for everyone
        if store().read_with(lambda c: sec.setup_locked(c, config, ip)):
            return fail("locked", 429)
        if not sec.setup_code_ok(config, code):
            store().write(lambda c: sec.setup_failed(c, ip))
            return fail("code", 401)
        if password != password2:
            return fail("mismatch")
        try:  # the facility first: a wrong SSID line is said before the account exists
            from appliance.config import from_mapping, overlay

            from_mapping(overlay(config.model_dump(), settings_form.parse(facility)))
        except ConfigError as exc:
            return fail(str(exc))

        def create(c: Any) -> None:
            if sec.has_users(c):  # two browsers racing: the second one loses
                raise sec.AuthError("exists")
            sec.create_user(c, username, password, "admin")
            sec.audit(c, username, "setup", f"admin created from {ip}")

        try:
            store().write(create)
        except sec.AuthError as exc:
            return fail(str(exc))
        sec.retire_setup_code(config)
        if facility_name.strip() or ssids.strip() or facility["ssid_pick"]:
            save_settings_form(facility, username)
        res = store().write(lambda c: sec.login(c, config, username, password, ip))
        resp = RedirectResponse("/" if not isinstance(res, str) else "/login", status_code=303)
        if not isinstance(res, str):
            set_cookie(resp, res[0])
        return resp

    @app.get("/lang/{code}", include_in_schema=False)
    def set_lang(code: str, next: str = "/") -> Response:  # noqa: A002
        resp = RedirectResponse(safe_next(next), status_code=303)
        if code in i18n.LANGUAGES:
            resp.set_cookie("lang", code, max_age=365 * 86400, samesite="strict",
                            secure=secure_cookies, httponly=True)
        return resp

    # -- pages ---------------------------------------------------------------------------------
    @app.post("/logout", include_in_schema=False)
    def logout(s: sec.Session = Depends(session), csrf: str = Form("")) -> Response:  # noqa: B008
        check_csrf(s, csrf, None)
        store().write(lambda c: sec.logout(c, s))
        resp = RedirectResponse("/login", status_code=303)
        resp.delete_cookie(sec.COOKIE, path="/")
        return resp

    async def overview_doc() -> dict[str, Any]:
        # the compliance evaluation (every `compliance_ttl_s` at most) runs in a worker thread;
        # the rest are index lookups, done in the event loop
        doc = await asyncio.to_thread(compliance_doc)
        since = time.time() - 86400
        counts = {**dict.fromkeys(data.SEVERITIES, 0), **counts_for("active", "", "")}
        changes, agent, probe, actions, trend = store().read_with(lambda c: (
            data.changes_since(c, since), data.agent_state(c), data.last_probe(c),
            data.top_actions(c, doc, catalog),
            data.open_trend(c, time.time(), config.web.timezone, sum(counts.values()))))
        return {"estimate": doc["estimate"], "grades": doc["grades"], "axes": doc["axes"],
                "actions": actions,
                "trend": trend, "summary": {lg: data.estimate_sentence(doc, lg, catalog)
                                            for lg in ("ja", "en")},
                "categories": data.categories(doc, catalog), "open": counts,
                "changes": changes, "agent": agent, "probe": probe, "reminders":
                doc["reminders"], "todo": todo_list(doc, 30)}

    @app.get("/", include_in_schema=False)
    async def overview(request: Request, s: sec.Session = Depends(session)  # noqa: B008
                       ) -> Response:
        return page(request, "overview.html", s, o=await overview_doc(),
                    facility=config.facility)

    @app.get("/findings", include_in_schema=False)
    async def findings_page(request: Request, s: sec.Session = Depends(session),  # noqa: B008
                      status: str = Query("active", max_length=20),
                      severity: str = Query("", max_length=20),
                      measure: str = Query("", max_length=10),
                      q: str = Query("", max_length=100), page_no: int = Query(0, ge=0,
                                                                                alias="page")
                      ) -> Response:
        lang = lang_of(request)
        key = (status, severity, measure, q, page_no, lang, s.can_write)
        with counts_lock:  # the rendered table is kept as long as the counts are
            hit = table_cache.get(key)
        if hit and time.monotonic() - hit[0] < counts_ttl_s:
            table, total = hit[1], hit[2]
        else:
            counts = counts_for(status, measure, q)
            rows, total = store().read_with(lambda c: data.findings(
                c, status, severity, measure, q, page_no * data.PAGE, counts=counts))
            table = env.get_template("findings_rows.html").render(
                _=i18n.translator(lang), lang=lang, s=s, rows=rows)
            with counts_lock:
                if len(table_cache) > 256:
                    table_cache.clear()
                table_cache[key] = (time.monotonic(), table, total)
        return page(request, "findings.html", s, table=table, total=total, status=status,
                    severity=severity, measure=measure, q=q, page_no=page_no,
                    pages=(total + data.PAGE - 1) // data.PAGE)

    def row_id(n: int) -> int:
        """A row id from the URL or a form: anything SQLite cannot hold is simply not there."""
        if not 0 < n < 2**63:
            raise HTTPException(404, "no such item")
        return n

    @app.get("/findings/{fid}", include_in_schema=False)
    def finding_page(request: Request, fid: int, s: sec.Session = Depends(session)  # noqa: B008
                     ) -> Response:
        row_id(fid)
        f = store().read_with(lambda c: data.finding(c, fid))
        if f is None:
            raise HTTPException(404)
        try:
            measure: Any = catalog.measure(f["measure"])
        except KeyError:
            measure = None
        return page(request, "finding.html", s, f=f, measure=measure,
                    evidence=i18n.evidence_items(f.get("evidence") or {}, lang_of(request)))

    @app.post("/findings/{fid}/status", include_in_schema=False)
    def finding_status(fid: int, s: sec.Session = Depends(admin),  # noqa: B008
                       status: str = Form(..., pattern="^(acknowledged|resolved)$"),
                       note: str = Form("", max_length=500), csrf: str = Form(""),
                       back: str = Form("")) -> Response:
        check_csrf(s, csrf, None)
        _change_status(row_id(fid), status, note, s)
        return RedirectResponse(safe_next(back) if back else f"/findings/{fid}",
                                status_code=303)

    @app.post("/findings/ack", include_in_schema=False)
    def finding_ack(s: sec.Session = Depends(admin), fid: int = Form(...),  # noqa: B008
                    csrf: str = Form(""), back: str = Form("")) -> Response:
        """The findings list's per-row button: one form on the page, the row's id as value."""
        check_csrf(s, csrf, None)
        _change_status(row_id(fid), "acknowledged", "", s)
        return RedirectResponse(safe_next(back) if back else "/findings", status_code=303)

    def _change_status(fid: int, status: str, note: str, s: sec.Session) -> None:
        from appliance.findings import set_status

        def do(c: Any) -> None:
            set_status(c, fid, status, time.time(), s.username, note)
            sec.audit(c, s.username, f"finding {status}", str(fid))

        try:
            store().write(do)
        except KeyError as exc:
            raise HTTPException(404, "no such finding") from exc
        with cache_lock:
            cache.pop("compliance", None)
        with counts_lock:
            counts_cache.clear()
            table_cache.clear()

    @app.get("/measures/{mid}", include_in_schema=False)
    def measure_page(request: Request, mid: str, s: sec.Session = Depends(session),  # noqa: B008
                     error: str = Query("", max_length=500), attested: int = 0) -> Response:
        doc = compliance_doc()
        m = next((x for x in doc["measures"] if x["measure"] == mid), None)
        if m is None:
            raise HTTPException(404)
        spec = catalog.measure(mid)
        return page(request, "measure.html", s, m=m, estimate=doc["estimate"], error=error,
                    attested=attested, unidentified=spec.unidentified,
                    may_be_na=bool(spec.not_applicable),
                    attest_checks=[c for c in m["checks"] if c["kind"] == "attest"])

    # -- compliance: attestations with evidence upload (web/routes_compliance.py, #13) -------
    def _invalidate_compliance() -> None:
        with cache_lock:
            cache.pop("compliance", None)

    routes_compliance.register(app, routes_compliance.Deps(
        config, catalog, store, admin, check_csrf, _invalidate_compliance))

    @app.get("/measures", include_in_schema=False)
    def measures_page(request: Request, s: sec.Session = Depends(session)  # noqa: B008
                      ) -> Response:
        doc = compliance_doc()
        return page(request, "measures.html", s, doc=doc,
                    cats=data.categories(doc, catalog))

    @app.get("/wifi", include_in_schema=False)
    def wifi_page(request: Request, s: sec.Session = Depends(session)) -> Response:  # noqa: B008
        aps, wf, sv = store().read_with(lambda c: (
            data.access_points(c, config), data.wifi_findings(c), data.surveys(c)))
        fac = [a for a in aps if a["facility"]][:8]
        # the last day of readings: now for a live radio, the capture's day for an ingest
        latest = store().read_with(lambda c: data.latest_rssi(c, [a["bssid"] for a in fac]))
        end = time.time() if latest is None or latest > time.time() - 3600 else latest + 60
        since = end - 86400
        series = store().read_with(lambda c: {a["bssid"]: data.rssi_series(c, a["bssid"], since)
                                              for a in fac})
        chart = charts.rssi_svg(series, {a["bssid"]: a["ssid"] for a in fac}, since, end)
        window = None if end >= time.time() - 60 else (since, end)
        return page(request, "wifi.html", s, aps=aps, findings=wf, surveys=sv, chart=chart,
                    has_series=any(series.values()), has_ssids=bool(config.facility.ssids),
                    window=window)

    @app.post("/wifi/surveys", include_in_schema=False)
    def survey_action(s: sec.Session = Depends(admin), csrf: str = Form(""),  # noqa: B008
                      action: str = Form(..., pattern="^(start|stop)$"),
                      label: str = Form("", max_length=100),
                      location: str = Form("outside", pattern="^(outside|inside)$"),
                      seconds: float = Form(0, ge=0, le=86400)) -> Response:
        from agent import survey

        check_csrf(s, csrf, None)
        if action == "start":
            if not label.strip():
                raise HTTPException(400, "a survey needs a label")
            store().write(lambda c: survey.start(c, label.strip(),
                                                 config.wifi.leakage_threshold_dbm, location,
                                                 seconds or None))
        else:
            store().write(lambda c: survey.stop(c, None))
        return RedirectResponse("/wifi", status_code=303)

    @app.get("/devices", include_in_schema=False)
    def devices_page(request: Request, s: sec.Session = Depends(session),  # noqa: B008
                     page_no: int = Query(0, ge=0, alias="page")) -> Response:
        rows, total = store().read_with(lambda c: data.devices(c, page_no * data.PAGE))
        return page(request, "devices.html", s, rows=rows, total=total, page_no=page_no,
                    pages=(total + data.PAGE - 1) // data.PAGE)

    @app.post("/devices/approve", include_in_schema=False)
    def approve_baseline(s: sec.Session = Depends(admin), csrf: str = Form(""),  # noqa: B008
                         ip: str = Form(..., max_length=64)) -> Response:
        """The manager approves what a device exposes now (4-③); later cycles raise
        probe.unapproved_service for anything else."""
        from agent.probe import record

        check_csrf(s, csrf, None)

        def do(c: Any) -> int:
            n = record.approve(c, ip, s.username, time.time())
            sec.audit(c, s.username, "baseline approved", f"{ip}: {n} service(s)")
            return n

        try:
            store().write(do)
        except ValueError as exc:
            raise HTTPException(409, str(exc)) from exc
        return RedirectResponse("/devices", status_code=303)

    from web import rental  # the rental-PC page (#18)

    rental.register(app, config, store, page, session, admin, check_csrf)
    from web import search as search_routes  # the search box (#15)

    search_routes.register(app, config, store, page, session)

    probe_proc: dict[str, subprocess.Popen[bytes]] = {}

    def _spawn(kind: str, args: list[str]) -> bool:
        p = probe_proc.get(kind)
        if p is not None and p.poll() is None:
            return False
        env = dict(os.environ)
        cmd = [sys.executable, "-m", "appliance.cli", *args, "--db", str(path)]
        probe_proc[kind] = subprocess.Popen(cmd, stdout=subprocess.DEVNULL,
                                            stderr=subprocess.DEVNULL, env=env)
        return True

    @app.get("/probes", include_in_schema=False)
    def probes_page(request: Request, s: sec.Session = Depends(session)) -> Response:  # noqa: B008
        runs, agent = store().read_with(lambda c: (data.probe_runs(c), data.agent_state(c)))
        running = probe_proc.get("probe")
        return page(request, "probes.html", s, runs=runs, scope=config.probe.scope,
                    next_runs=((agent or {}).get("probe") or {}).get("next", {}),
                    running=running is not None and running.poll() is None)

    @app.post("/probes/run", include_in_schema=False)
    def probes_run(s: sec.Session = Depends(admin), csrf: str = Form("")  # noqa: B008
                   ) -> Response:
        check_csrf(s, csrf, None)
        if not config.probe.scope:
            raise HTTPException(409, "the probe scope is empty: nothing may be probed")
        _spawn("probe", ["probe"] + (["--config", os.environ["OFFICEGUARD_CONFIG"]]
                                     if os.environ.get("OFFICEGUARD_CONFIG") else []))
        store().write(lambda c: sec.audit(c, s.username, "probe run", ""))
        return RedirectResponse("/probes", status_code=303)

    @app.get("/exports", include_in_schema=False)
    def exports_page(request: Request, s: sec.Session = Depends(session)) -> Response:  # noqa: B008
        rows = store().read_with(data.exports)
        if "signing_key" not in key_cache:
            info = sec.public_key_info(config.data_dir)
            if info is None:
                return page(request, "exports.html", s, rows=rows, key=None)
            key_cache["signing_key"] = info  # the key does not change while we run
        return page(request, "exports.html", s, rows=rows, key=key_cache["signing_key"])

    @app.get("/exports/{eid}/download", include_in_schema=False)
    def export_download(eid: int, s: sec.Session = Depends(session)) -> Response:  # noqa: B008
        row_id(eid)
        row = store().read_with(lambda c: exports_q.downloadable(c, eid))
        if row is None or not Path(row["path"]).is_dir():
            raise HTTPException(404, "no such export (or its folder was removed)")
        folder = Path(row["path"])
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            for f in sorted(folder.rglob("*")):
                if f.is_file() and not f.is_symlink():
                    z.write(f, f"{folder.name}/{f.relative_to(folder)}")
        store().write(lambda c: sec.audit(c, s.username, "export download", str(eid)))
        buf.seek(0)
        name = f"officeguard-export-{int(eid)}.zip"
        return StreamingResponse(buf, media_type="application/zip", headers={
            "Content-Disposition": f'attachment; filename="{name}"'})

    def settings_ctx() -> dict[str, Any]:
        """What the Settings page shows: the saved values (not the ones this process started
        with), and whether the agent has yet to pick them up."""
        from appliance.config import read_settings, settings_mtime

        try:
            saved = read_settings(config.data_dir)
        except ConfigError:
            saved = {}
        users, tests, agent = store().read_with(lambda c: (data.users(c), data.alert_tests(c),
                                                           data.agent_state(c)))
        return {"config": settings_form.effective(config, saved), "users": users,
                "tests": tests, "pending": settings_form.pending(
                    settings_mtime(config.data_dir), agent)}

    @app.get("/settings", include_in_schema=False)
    def settings_page(request: Request, s: sec.Session = Depends(session),  # noqa: B008
                      msg: str = "") -> Response:
        return page(request, "settings.html", s, msg=msg, error="", form=None,
                    **settings_ctx())

    def save_settings_form(form: dict[str, str], actor: str) -> None:
        """Merge what the form sent into settings.toml and apply it to this process at once;
        the agent notices the file and applies it too. Raises ConfigError, changing nothing."""
        from appliance.config import apply_settings, merge_settings, read_settings, write_settings

        merged = merge_settings(read_settings(config.data_dir), settings_form.parse(form))
        # written to a temporary file, read back with the real loader over the running
        # configuration, and only then renamed into place (ConfigError: nothing replaced)
        write_settings(config, merged)
        apply_settings(config, merged)
        with cache_lock:
            cache.pop("compliance", None)
        store().write(lambda c: sec.audit(c, actor, "settings saved", json.dumps(
            merged, ensure_ascii=False)[:500]))

    @app.post("/settings/config", include_in_schema=False)
    async def save_settings(request: Request, s: sec.Session = Depends(admin)  # noqa: B008
                            ) -> Response:
        """Facility SSIDs, probe scope and web sites, MQTT broker: validated with the same typed
        loader as the file, merged into <data_dir>/settings.toml (only the fields sent change),
        applied here at once and by the agent within seconds."""
        form = {k: str(v)[:20000] for k, v in
                (await request.form(max_files=0, max_fields=64)).items()}
        check_csrf(s, form.get("csrf"), None)
        try:
            save_settings_form(form, s.username)
        except ConfigError as exc:
            r = page(request, "settings.html", s, msg="", error=str(exc), form=form,
                     **settings_ctx())
            r.status_code = 400
            return r
        return RedirectResponse("/settings?msg=settings-saved", status_code=303)

    @app.post("/settings/users", include_in_schema=False)
    def add_user(s: sec.Session = Depends(admin), csrf: str = Form(""),  # noqa: B008
                 username: str = Form(..., max_length=64),
                 password: str = Form(..., max_length=256),
                 role: str = Form(..., pattern="^(admin|viewer|inspector)$")) -> Response:
        check_csrf(s, csrf, None)

        def do(c: Any) -> None:
            sec.create_user(c, username, password, role)
            sec.audit(c, s.username, "user created", f"{username} ({role})")

        try:
            store().write(do)
        except sec.AuthError as exc:
            return RedirectResponse(f"/settings?msg={quote(str(exc))}", status_code=303)
        return RedirectResponse("/settings?msg=user-created", status_code=303)

    def _user_change(fn: Any, ok_msg: str) -> Response:
        try:
            store().write(fn)
        except sec.AuthError as exc:
            return RedirectResponse(f"/settings?msg={quote(str(exc))}", status_code=303)
        return RedirectResponse(f"/settings?msg={ok_msg}", status_code=303)

    @app.post("/settings/users/manage", include_in_schema=False)
    def manage_user(s: sec.Session = Depends(admin), csrf: str = Form(""),  # noqa: B008
                    username: str = Form(..., max_length=64),
                    action: str = Form(..., pattern="^(disable|enable|end-sessions|password)$"),
                    password: str = Form("", max_length=256)) -> Response:
        """An administrator disables or re-enables a user, ends their sessions, or sets a new
        password for them (which ends their sessions too); each is audited."""
        check_csrf(s, csrf, None)
        if action == "password":
            return _user_change(lambda c: sec.set_password(
                c, s.username, username, password,
                keep_sha256=s.token_sha256 if username == s.username else None),
                "password-changed")
        if action == "end-sessions":
            keep = s.token_sha256 if username == s.username else None
            return _user_change(lambda c: sec.end_sessions(c, s.username, username, keep),
                                "sessions-ended")
        return _user_change(lambda c: sec.set_disabled(c, s.username, username,
                                                       action == "disable"),
                            f"user-{action}d")

    @app.post("/account/password", include_in_schema=False)
    def own_password(s: sec.Session = Depends(session), csrf: str = Form(""),  # noqa: B008
                     current: str = Form(..., max_length=256),
                     password: str = Form(..., max_length=256),
                     password2: str = Form(..., max_length=256)) -> Response:
        """Any user changes their own password (the current one is asked for); their other
        sessions end."""
        check_csrf(s, csrf, None)
        if password != password2:
            return RedirectResponse("/settings?msg=mismatch", status_code=303)
        return _user_change(lambda c: sec.set_password(
            c, s.username, s.username, password, current=current, keep_sha256=s.token_sha256),
            "password-changed")

    @app.post("/settings/alert-test", include_in_schema=False)
    async def alert_test(s: sec.Session = Depends(admin), csrf: str = Form("")  # noqa: B008
                         ) -> Response:
        from agent.mqtt import MqttError, send_test_alert

        check_csrf(s, csrf, None)
        try:
            res = await asyncio.to_thread(send_test_alert, config, store(), s.username)
        except MqttError as exc:
            return RedirectResponse(f"/settings?msg={quote('alert-error: ' + str(exc))}",
                                    status_code=303)
        msg = "alert-delivered" if res.get("delivered_at") else \
            f"alert-error: {res.get('error') or 'not acknowledged'}"
        return RedirectResponse(f"/settings?msg={quote(msg)}", status_code=303)

    @app.get("/system", include_in_schema=False)
    def system_page(request: Request, s: sec.Session = Depends(session)) -> Response:  # noqa: B008
        agent = store().read_with(data.agent_state)
        return page(request, "system.html", s, sys=data.system(), agent=agent)

    # -- JSON API ------------------------------------------------------------------------------
    @app.get("/api/overview", tags=["api"])
    async def api_overview(s: sec.Session = Depends(session)) -> dict[str, Any]:  # noqa: B008
        return await overview_doc()

    @app.get("/api/findings", tags=["api"])
    async def api_findings(s: sec.Session = Depends(session),  # noqa: B008
                     status: str = Query("active", pattern="^(active|open|acknowledged|"
                                         "resolved|reopened)$"),
                     severity: str = Query("", pattern="^(|info|low|medium|high|critical)$"),
                     measure: str = Query("", max_length=10),
                     q: str = Query("", max_length=100),
                     offset: int = Query(0, ge=0, le=10_000_000),
                     limit: int = Query(50, ge=1, le=500)) -> dict[str, Any]:
        counts = counts_for(status, measure, q)
        rows, total = store().read_with(lambda c: data.findings(c, status, severity, measure,
                                                                q, offset, limit, counts))
        return {"total": total, "findings": rows}

    @app.get("/api/findings/{fid}", tags=["api"])
    def api_finding(fid: int, s: sec.Session = Depends(session)  # noqa: B008
                    ) -> dict[str, Any]:
        if not -2**63 <= fid < 2**63:
            raise HTTPException(404, "no such finding")
        f = store().read_with(lambda c: data.finding(c, fid))
        if f is None:
            raise HTTPException(404, "no such finding")
        return f

    @app.post("/api/findings/{fid}/status", tags=["api"])
    def api_finding_status(fid: int, body: StatusChange,
                           s: sec.Session = Depends(admin),  # noqa: B008
                           x_csrf_token: str | None = Header(None)) -> dict[str, Any]:
        check_csrf(s, None, x_csrf_token)
        if not -2**63 <= fid < 2**63:
            raise HTTPException(404, "no such finding")
        _change_status(fid, body.status, body.note, s)
        return {"id": fid, "status": body.status}

    @app.get("/api/compliance", tags=["api"])
    def api_compliance(s: sec.Session = Depends(session)) -> dict[str, Any]:  # noqa: B008
        return compliance_doc()

    @app.get("/api/access-points", tags=["api"])
    def api_aps(s: sec.Session = Depends(session)) -> dict[str, Any]:  # noqa: B008
        return {"access_points": store().read_with(lambda c: data.access_points(c, config))}

    @app.get("/api/devices", tags=["api"])
    def api_devices(s: sec.Session = Depends(session),  # noqa: B008
                    offset: int = Query(0, ge=0, le=10_000_000),
                    limit: int = Query(50, ge=1, le=500)) -> dict[str, Any]:
        rows, total = store().read_with(lambda c: data.devices(c, offset, limit))
        return {"total": total, "devices": rows}

    @app.get("/api/probes", tags=["api"])
    def api_probes(s: sec.Session = Depends(session)) -> dict[str, Any]:  # noqa: B008
        return {"runs": store().read_with(data.probe_runs), "scope": config.probe.scope}

    @app.get("/api/exports", tags=["api"])
    def api_exports(s: sec.Session = Depends(session)) -> dict[str, Any]:  # noqa: B008
        return {"exports": store().read_with(data.exports)}

    @app.get("/api/system", tags=["api"])
    def api_system(s: sec.Session = Depends(session)) -> dict[str, Any]:  # noqa: B008
        return data.system()

    @app.get("/api/status", tags=["api"], response_model=None)
    def api_status(s: sec.Session = Depends(session)) -> Any:  # noqa: B008
        from appliance.status import StatusError, status_summary

        try:
            doc = status_summary(config, str(path))
        except StatusError as exc:
            return JSONResponse({"error": str(exc)}, status_code=503)
        return {"facility": doc["facility"], "agent": doc["agent"], "counts": doc["counts"],
                "open_findings": doc["open_findings"]}

    return app
