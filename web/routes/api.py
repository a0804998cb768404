"""The JSON API under /api/ (a session is needed; posts need the X-CSRF-Token header). Every
endpoint has a response model (web/routes/models.py), so the checked-in spec, web/openapi.json,
describes what it answers."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Header, HTTPException, Query
from fastapi.responses import JSONResponse

from appliance.domain import SEVERITY_PATTERN
from appliance.store import commands as cmds
from appliance.store.commands import CommandKind
from web import data
from web.routes import models as m
from web.routes.deps import AdminDep, SessionDep, WebDep
from web.routes.findings import change_status
from web.routes.overview import overview_doc

router = APIRouter(prefix="/api", tags=["api"])


@router.get("/overview")
async def api_overview(w: WebDep, s: SessionDep) -> m.Overview:
    return m.Overview.model_validate(await overview_doc(w))


@router.get("/findings")
async def api_findings(w: WebDep, s: SessionDep,
                       status: str = Query("active", pattern="^(active|open|acknowledged|"
                                           "resolved|reopened)$"),
                       severity: str = Query("", pattern=SEVERITY_PATTERN),
                       measure: str = Query("", max_length=10),
                       q: str = Query("", max_length=100),
                       offset: int = Query(0, ge=0, le=10_000_000),
                       limit: int = Query(50, ge=1, le=500)) -> m.FindingList:
    counts = w.counts_for(status, measure, q)
    rows, total = w.store().read_with(lambda c: data.findings(c, status, severity, measure,
                                                              q, offset, limit, counts))
    return m.FindingList(total=total, findings=rows)


@router.get("/findings/{fid}")
def api_finding(fid: int, w: WebDep, s: SessionDep) -> m.Finding:
    if not -2**63 <= fid < 2**63:
        raise HTTPException(404, "no such finding")
    f = w.store().read_with(lambda c: data.finding(c, fid))
    if f is None:
        raise HTTPException(404, "no such finding")
    return m.Finding.model_validate(f)


@router.post("/findings/{fid}/status")
def api_finding_status(fid: int, body: m.StatusChange, w: WebDep, s: AdminDep,
                       x_csrf_token: str | None = Header(None)) -> m.StatusChanged:
    w.check_csrf(s, None, x_csrf_token)
    if not -2**63 <= fid < 2**63:
        raise HTTPException(404, "no such finding")
    change_status(w, fid, body.status, body.note, s)
    return m.StatusChanged(id=fid, status=body.status)


@router.get("/compliance")
def api_compliance(w: WebDep, s: SessionDep) -> m.Compliance:
    return m.Compliance.model_validate(w.compliance_doc())


@router.get("/access-points")
def api_aps(w: WebDep, s: SessionDep) -> m.AccessPoints:
    return m.AccessPoints(access_points=w.store().read_with(
        lambda c: data.access_points(c, w.config)))


@router.get("/devices")
def api_devices(w: WebDep, s: SessionDep, offset: int = Query(0, ge=0, le=10_000_000),
                limit: int = Query(50, ge=1, le=500)) -> m.Devices:
    rows, total = w.store().read_with(lambda c: data.devices(c, offset, limit))
    return m.Devices(total=total, devices=rows)


@router.get("/probes")
def api_probes(w: WebDep, s: SessionDep) -> m.Probes:
    return m.Probes(runs=w.store().read_with(data.probe_runs), scope=w.config.probe.scope)


@router.get("/exports")
def api_exports(w: WebDep, s: SessionDep) -> m.Exports:
    return m.Exports(exports=w.store().read_with(data.exports))


@router.get("/system")
def api_system(w: WebDep, s: SessionDep) -> m.System:
    return m.System.model_validate(data.system())


@router.get("/commands")
def api_commands(w: WebDep, s: SessionDep,
                 kind: str = Query("", pattern="^(|probe_now|test_alert|survey_start|"
                                   "survey_stop|run_export)$"),
                 limit: int = Query(20, ge=1, le=200)) -> m.Commands:
    """The latest requests the dashboard made of the agent (newest first), with their state
    and outcome."""
    found = w.store().read_with(lambda c: cmds.recent(c, limit, CommandKind(kind) if kind
                                                      else None))
    return m.Commands(commands=[m.Command(
        id=x.id, kind=x.kind.value, state=x.state.value, requested_by=x.requested_by,
        requested_at=x.requested_at, started_at=x.started_at, finished_at=x.finished_at,
        args=x.args, outcome=x.outcome) for x in found])


@router.get("/status", response_model=m.Status,
            responses={503: {"model": m.StatusError, "description": "the store is unreadable"}})
def api_status(w: WebDep, s: SessionDep) -> Any:
    from appliance.status import StatusError, status_summary

    try:
        doc = status_summary(w.config, str(w.path))
    except StatusError as exc:
        return JSONResponse({"error": str(exc)}, status_code=503)
    return {"facility": doc["facility"], "agent": doc["agent"], "counts": doc["counts"],
            "open_findings": doc["open_findings"]}
