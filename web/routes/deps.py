"""What every route group shares: the per-app context (`Web`: configuration, store, templates,
caches, the page renderer) and the FastAPI dependencies (the session, an administrator's
session, the context itself). Route modules declare parameters with the `Annotated` aliases:

    @router.post("/probes/run")
    def probes_run(w: WebDep, s: AdminDep, csrf: str = Form("")) -> Response: ...

A dependency that refuses (no session, not an administrator) raises before any form field is
read, so an anonymous post is sent to the login page, never told what the form lacked.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from appliance import wording
from appliance.config import Config
from appliance.display import display_safe
from appliance.guideline import catalog_for
from appliance.store import Store
from web import data, i18n
from web import security as sec

HERE = Path(__file__).resolve().parent.parent


class NeedLogin(Exception):
    """No valid session: pages redirect to /login, the API answers 401."""


class Forbidden(Exception):
    """A session that may not do this (403)."""


class Web:
    """One dashboard's state, made by `create_app` and kept in `app.state.web`."""

    def __init__(self, config: Config, path: Path, secure_cookies: bool,
                 compliance_ttl_s: float, counts_ttl_s: float) -> None:
        self.config = config
        self.catalog = catalog_for(config)
        self.path = path
        self.secure_cookies = secure_cookies
        self.compliance_ttl_s = compliance_ttl_s
        self.counts_ttl_s = counts_ttl_s
        self._store: Store | None = None
        env = Environment(loader=FileSystemLoader(HERE / "templates"), auto_reload=False,
                          autoescape=select_autoescape(default=True, default_for_string=True))
        env.filters["t"] = lambda ts, seconds=False: i18n.local_time(
            ts, config.web.timezone, seconds)
        # every value printed by a template: bidi overrides and control characters in names
        # from the air or the LAN are shown as ⟨U+202E⟩ markers (HTML made by us, Markup, is
        # left alone)
        env.finalize = lambda v: display_safe(v) if isinstance(v, str) and not isinstance(
            v, Markup) else v
        env.filters["tiso"] = lambda text: i18n.local_time(i18n.parse_iso(text),
                                                           config.web.timezone)
        env.filters["mid"] = wording.measure_label
        env.filters["reason"] = i18n.sensor_reason
        self.env = env
        self.cache: dict[str, tuple[float, Any]] = {}
        self.cache_lock = threading.Lock()
        self.counts_cache: dict[tuple[str, str, str], tuple[float, dict[str, int]]] = {}
        self.counts_lock = threading.Lock()
        self.table_cache: dict[tuple[Any, ...], tuple[float, str, int]] = {}
        self.key_cache: dict[str, dict[str, str]] = {}

    # -- the store (opened by the app's lifespan) ----------------------------------------------
    def open(self) -> Store:
        self._store = Store(self.path, read_cache_kib=1024)
        return self._store

    def store(self) -> Store:
        if self._store is None:
            raise RuntimeError("the dashboard's store is not open (outside the app's lifespan)")
        return self._store

    # -- rendering -----------------------------------------------------------------------------
    def lang_of(self, request: Request) -> str:
        return i18n.pick(request.cookies.get("lang"), request.headers.get("accept-language"),
                         self.config.web.language)

    def page(self, request: Request, name: str, s: sec.Session | None,
             **ctx: Any) -> HTMLResponse:
        lang = self.lang_of(request)
        tpl = self.env.get_template(name)
        html = tpl.render(_=i18n.translator(lang), lang=lang, s=s, path=request.url.path,
                          severities=data.SEVERITIES, **ctx)
        return HTMLResponse(html)

    # -- checks --------------------------------------------------------------------------------
    @staticmethod
    def check_csrf(s: sec.Session, form_token: str | None, header_token: str | None) -> None:
        if not sec.csrf_ok(s, form_token or header_token):
            raise Forbidden("missing or wrong CSRF token")

    @staticmethod
    def row_id(n: int) -> int:
        """A row id from the URL or a form: anything SQLite cannot hold is simply not there."""
        if not 0 < n < 2**63:
            raise HTTPException(404, "no such item")
        return n

    @staticmethod
    def safe_next(nxt: str | None) -> str:
        if not nxt or not nxt.startswith("/") or nxt.startswith("//") or "\\" in nxt \
                or urlsplit(nxt).netloc:
            return "/"
        return nxt

    def set_cookie(self, resp: Response, token: str) -> None:
        resp.set_cookie(sec.COOKIE, token, max_age=int(self.config.web.session_hours * 3600),
                        httponly=True, secure=self.secure_cookies, samesite="strict", path="/")

    # -- cached reads --------------------------------------------------------------------------
    def compliance_doc(self) -> dict[str, Any]:
        """Evaluated at most once per `compliance_ttl_s`, by one request at a time: twenty
        clients arriving together wait for one evaluation instead of running twenty."""
        with self.cache_lock:
            hit = self.cache.get("compliance")
            now = time.monotonic()
            if hit and now - hit[0] < self.compliance_ttl_s:
                return dict(hit[1])
            doc = self.store().read_with(lambda c: data.compliance(c, self.config, self.catalog))
            self.cache["compliance"] = (time.monotonic(), doc)
            return doc

    def counts_for(self, status: str, measure: str, q: str) -> dict[str, int]:
        """Findings per severity, reused for `counts_ttl_s`: counting 100,000 rows on every
        page view is what made twenty clients wait. Changes made here clear it at once."""
        key = (status, measure, q)
        with self.counts_lock:
            hit = self.counts_cache.get(key)
            if hit and time.monotonic() - hit[0] < self.counts_ttl_s:
                return hit[1]
            value = self.store().read_with(
                lambda c: data.finding_counts(c, status, measure, q))
            if len(self.counts_cache) > 256:
                self.counts_cache.clear()
            self.counts_cache[key] = (time.monotonic(), value)
            return value

    def invalidate_compliance(self) -> None:
        with self.cache_lock:
            self.cache.pop("compliance", None)

    def invalidate_findings(self) -> None:
        """A finding changed here: the evaluation, counts and rendered tables are stale."""
        self.invalidate_compliance()
        with self.counts_lock:
            self.counts_cache.clear()
            self.table_cache.clear()


# -- dependencies ------------------------------------------------------------------------------
def get_web(request: Request) -> Web:
    w: Web = request.app.state.web
    return w


WebDep = Annotated[Web, Depends(get_web)]


async def session(request: Request, w: WebDep) -> sec.Session:
    # a primary-key lookup: cheaper in the event loop than a hop to a worker thread
    s = w.store().read_with(lambda c: sec.session_for(c, request.cookies.get(sec.COOKIE)))
    if s is None:
        raise NeedLogin()
    return s


SessionDep = Annotated[sec.Session, Depends(session)]


async def admin(s: SessionDep) -> sec.Session:
    if not s.can_write:
        raise Forbidden("this account may read only")
    return s


AdminDep = Annotated[sec.Session, Depends(admin)]
