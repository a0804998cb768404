"""Settings and users: the facility, probe scope and broker settings (saved to
<data_dir>/settings.toml), accounts, the test alert (a request the agent carries out), and the
system page."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from appliance.config import ConfigError
from appliance.store.commands import CommandKind
from web import commands as asks
from web import data, settings_form
from web import security as sec
from web.routes.deps import AdminDep, SessionDep, Web, WebDep

router = APIRouter()


def settings_ctx(w: Web) -> dict[str, Any]:
    """What the Settings page shows: the saved values (not the ones this process started
    with), whether the agent has yet to pick them up, and the latest test alert asked for."""
    from appliance.config import read_settings, settings_mtime

    try:
        saved = read_settings(w.config.data_dir)
    except ConfigError:
        saved = {}
    users, tests, agent, cmd = w.store().read_with(lambda c: (
        data.users(c), data.alert_tests(c), data.agent_state(c),
        asks.latest(c, CommandKind.TEST_ALERT)))
    return {"config": settings_form.effective(w.config, saved), "users": users,
            "tests": tests, "cmd": cmd, "pending": settings_form.pending(
                settings_mtime(w.config.data_dir), agent)}


def save_settings_form(w: Web, form: dict[str, str], actor: str) -> None:
    """Merge what the form sent into settings.toml and apply it to this process at once;
    the agent notices the file and applies it too. Raises ConfigError, changing nothing."""
    from appliance.config import apply_settings, merge_settings, read_settings, write_settings

    merged = merge_settings(read_settings(w.config.data_dir), settings_form.parse(form))
    # written to a temporary file, read back with the real loader over the running
    # configuration, and only then renamed into place (ConfigError: nothing replaced)
    write_settings(w.config, merged)
    apply_settings(w.config, merged)
    w.invalidate_compliance()
    w.store().write(lambda c: sec.audit(c, actor, "settings saved", json.dumps(
        merged, ensure_ascii=False)[:500]))


def user_change(w: Web, fn: Callable[[Any], Any], ok_msg: str) -> Response:
    try:
        w.store().write(fn)
    except sec.AuthError as exc:
        return RedirectResponse(f"/settings?msg={quote(str(exc))}", status_code=303)
    return RedirectResponse(f"/settings?msg={ok_msg}", status_code=303)


@router.get("/settings", include_in_schema=False)
def settings_page(request: Request, w: WebDep, s: SessionDep, msg: str = "") -> Response:
    return w.page(request, "settings.html", s, msg=msg, error="", form=None, **settings_ctx(w))


@router.post("/settings/config", include_in_schema=False)
async def save_settings(request: Request, w: WebDep, s: AdminDep) -> Response:
    """Facility SSIDs, probe scope and web sites, MQTT broker: validated with the same typed
    loader as the file, merged into <data_dir>/settings.toml (only the fields sent change),
    applied here at once and by the agent within seconds."""
    form = {k: str(v)[:20000] for k, v in
            (await request.form(max_files=0, max_fields=64)).items()}
    w.check_csrf(s, form.get("csrf"), None)
    try:
        save_settings_form(w, form, s.username)
    except ConfigError as exc:
        r = w.page(request, "settings.html", s, msg="", error=str(exc), form=form,
                   **settings_ctx(w))
        r.status_code = 400
        return r
    return RedirectResponse("/settings?msg=settings-saved", status_code=303)


@router.post("/settings/users", include_in_schema=False)
def add_user(w: WebDep, s: AdminDep, csrf: str = Form(""),
             username: str = Form(..., max_length=64),
             password: str = Form(..., max_length=256),
             role: str = Form(..., pattern="^(admin|viewer|inspector)$")) -> Response:
    w.check_csrf(s, csrf, None)

    def do(c: Any) -> None:
        sec.create_user(c, username, password, role)
        sec.audit(c, s.username, "user created", f"{username} ({role})")

    return user_change(w, do, "user-created")


@router.post("/settings/users/manage", include_in_schema=False)
def manage_user(w: WebDep, s: AdminDep, csrf: str = Form(""),
                username: str = Form(..., max_length=64),
                action: str = Form(..., pattern="^(disable|enable|end-sessions|password)$"),
                password: str = Form("", max_length=256)) -> Response:
    """An administrator disables or re-enables a user, ends their sessions, or sets a new
    password for them (which ends their sessions too); each is audited."""
    w.check_csrf(s, csrf, None)
    if action == "password":
        return user_change(w, lambda c: sec.set_password(
            c, s.username, username, password,
            keep_sha256=s.token_sha256 if username == s.username else None),
            "password-changed")
    if action == "end-sessions":
        keep = s.token_sha256 if username == s.username else None
        return user_change(w, lambda c: sec.end_sessions(c, s.username, username, keep),
                           "sessions-ended")
    return user_change(w, lambda c: sec.set_disabled(c, s.username, username,
                                                     action == "disable"),
                       f"user-{action}d")


@router.post("/settings/alert-test", include_in_schema=False)
def alert_test(w: WebDep, s: AdminDep, csrf: str = Form("")) -> Response:
    """The agent publishes the test alert with its own broker settings and network (what
    real alerts use); the page shows whether the broker acknowledged it."""
    w.check_csrf(s, csrf, None)
    if not w.config.mqtt.host:
        return RedirectResponse(f"/settings?msg={quote('alert-error: mqtt.host is empty')}",
                                status_code=303)
    asks.ask(w.store(), CommandKind.TEST_ALERT, {}, s.username)
    return RedirectResponse("/settings?msg=alert-requested", status_code=303)


@router.get("/system", include_in_schema=False)
def system_page(request: Request, w: WebDep, s: SessionDep) -> Response:
    agent = w.store().read_with(data.agent_state)
    return w.page(request, "system.html", s, sys=data.system(), agent=agent)
