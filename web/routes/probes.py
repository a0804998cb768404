"""Probes: the scope, the next runs, recorded cycles, and "run now" (a request the agent
carries out with its own capabilities, after any cycle in flight)."""

from __future__ import annotations

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from appliance.store.commands import CommandKind
from web import commands as asks
from web import data
from web.routes.deps import AdminDep, SessionDep, WebDep

router = APIRouter()


@router.get("/probes", include_in_schema=False)
def probes_page(request: Request, w: WebDep, s: SessionDep) -> Response:
    runs, agent, cmd = w.store().read_with(lambda c: (
        data.probe_runs(c), data.agent_state(c), asks.latest(c, CommandKind.PROBE_NOW)))
    return w.page(request, "probes.html", s, runs=runs, scope=w.config.probe.scope,
                  next_runs=((agent or {}).get("probe") or {}).get("next", {}),
                  cmd=cmd, running=bool(cmd and cmd["open"]))


@router.post("/probes/run", include_in_schema=False)
def probes_run(w: WebDep, s: AdminDep, csrf: str = Form("")) -> Response:
    """The agent runs a cycle now with its own capabilities (after any cycle in flight:
    never two at once); the page shows the request's state and outcome."""
    w.check_csrf(s, csrf, None)
    if not w.config.probe.scope:
        raise HTTPException(409, "the probe scope is empty: nothing may be probed")
    asks.ask(w.store(), CommandKind.PROBE_NOW, {}, s.username)
    return RedirectResponse("/probes", status_code=303)
