"""Public doors and the session: health, login, first-run setup, language, logout, and a
user's own password."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from appliance.config import ConfigError
from web import data, settings_form
from web import security as sec
from web.routes.deps import SessionDep, Web, WebDep
from web.routes.settings import save_settings_form, user_change

router = APIRouter()


@router.get("/health", tags=["public"])
def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/login", include_in_schema=False)
def login_form(request: Request, w: WebDep, next: str = "/",  # noqa: A002
               error: str = "") -> Response:
    if not w.store().read_with(sec.has_users):
        return RedirectResponse("/setup", status_code=303)
    return w.page(request, "login.html", None, next=w.safe_next(next), error=error)


@router.post("/login", include_in_schema=False)
def login_submit(request: Request, w: WebDep, username: str = Form(..., max_length=64),
                 password: str = Form(..., max_length=256), next: str = Form("/")  # noqa: A002
                 ) -> Response:
    ip = request.client.host if request.client else "?"
    res = w.store().write(lambda c: sec.login(c, w.config, username, password, ip))
    if isinstance(res, str):
        r = w.page(request, "login.html", None, next=w.safe_next(next), error=res,
                   username=username)
        r.status_code = 429 if res == "locked" else 401
        return r
    token = res[0]
    resp = RedirectResponse(w.safe_next(next), status_code=303)
    w.set_cookie(resp, token)
    return resp


def seen_ssids(w: Web) -> list[dict[str, Any]]:
    """SSIDs the Wi-Fi sensor has already seen, strongest first: choices at setup."""
    aps = w.store().read_with(lambda c: data.access_points(c, w.config))
    best: dict[str, dict[str, Any]] = {}
    for a in aps:
        name = a.get("ssid") or ""
        if name and (name not in best or (a.get("rssi_max") or -200) > (
                best[name].get("rssi_max") or -200)):
            best[name] = a
    return sorted(best.values(), key=lambda a: -(a.get("rssi_max") or -200))[:20]


@router.get("/setup", include_in_schema=False)
def setup_form(request: Request, w: WebDep) -> Response:
    if w.store().read_with(sec.has_users):
        return RedirectResponse("/login", status_code=303)
    return w.page(request, "setup.html", None, error="",
                  code_path=str(sec.setup_code_path(w.config)), seen=seen_ssids(w))


@router.post("/setup", include_in_schema=False)
def setup_submit(request: Request, w: WebDep, code: str = Form(..., max_length=64),
                 username: str = Form(..., max_length=64),
                 password: str = Form(..., max_length=256),
                 password2: str = Form(..., max_length=256),
                 facility_name: str = Form("", max_length=200),
                 ssids: str = Form("", max_length=20000),
                 ssid_pick: list[str] = Form([])  # noqa: B008
                 ) -> Response:
    config = w.config
    facility = {"facility_name": facility_name, "ssids": ssids,
                "ssid_pick": "\n".join(x for x in ssid_pick if x)}

    def fail(msg: str, status: int = 400) -> Response:
        r = w.page(request, "setup.html", None, error=msg,
                   code_path=str(sec.setup_code_path(config)), username=username,
                   seen=seen_ssids(w), facility=facility)
        r.status_code = status
        return r

    if w.store().read_with(sec.has_users):
        return RedirectResponse("/login", status_code=303)
    ip = request.client.host if request.client else "?"
    # wrong codes lock this address only, for web.lockout_minutes: another host on the
    # LAN cannot keep the setup locked for everyone
    if w.store().read_with(lambda c: sec.setup_locked(c, config, ip)):
        return fail("locked", 429)
    if not sec.setup_code_ok(config, code):
        w.store().write(lambda c: sec.setup_failed(c, ip))
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
        w.store().write(create)
    except sec.AuthError as exc:
        return fail(str(exc))
    sec.retire_setup_code(config)
    if facility_name.strip() or ssids.strip() or facility["ssid_pick"]:
        save_settings_form(w, facility, username)
    res = w.store().write(lambda c: sec.login(c, config, username, password, ip))
    resp = RedirectResponse("/" if not isinstance(res, str) else "/login", status_code=303)
    if not isinstance(res, str):
        w.set_cookie(resp, res[0])
    return resp


@router.get("/lang/{code}", include_in_schema=False)
def set_lang(code: str, w: WebDep, next: str = "/") -> Response:  # noqa: A002
    from web import i18n

    resp = RedirectResponse(w.safe_next(next), status_code=303)
    if code in i18n.LANGUAGES:
        resp.set_cookie("lang", code, max_age=365 * 86400, samesite="strict",
                        secure=w.secure_cookies, httponly=True)
    return resp


@router.post("/logout", include_in_schema=False)
def logout(w: WebDep, s: SessionDep, csrf: str = Form("")) -> Response:
    w.check_csrf(s, csrf, None)
    w.store().write(lambda c: sec.logout(c, s))
    resp = RedirectResponse("/login", status_code=303)
    resp.delete_cookie(sec.COOKIE, path="/")
    return resp


@router.post("/account/password", include_in_schema=False)
def own_password(w: WebDep, s: SessionDep, csrf: str = Form(""),
                 current: str = Form(..., max_length=256),
                 password: str = Form(..., max_length=256),
                 password2: str = Form(..., max_length=256)) -> Response:
    """Any user changes their own password (the current one is asked for); their other
    sessions end."""
    w.check_csrf(s, csrf, None)
    if password != password2:
        return RedirectResponse("/settings?msg=mismatch", status_code=303)
    return user_change(w, lambda c: sec.set_password(
        c, s.username, s.username, password, current=current, keep_sha256=s.token_sha256),
        "password-changed")
