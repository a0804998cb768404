"""Devices the probes found, and approving what a device exposes as its baseline (4-③)."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Form, HTTPException, Query, Request
from fastapi.responses import RedirectResponse, Response

from appliance.store import probes as probes_q
from web import data
from web import security as sec
from web.routes.deps import AdminDep, SessionDep, WebDep

router = APIRouter()


@router.get("/devices", include_in_schema=False)
def devices_page(request: Request, w: WebDep, s: SessionDep,
                 page_no: int = Query(0, ge=0, alias="page")) -> Response:
    rows, total = w.store().read_with(lambda c: data.devices(c, page_no * data.PAGE))
    return w.page(request, "devices.html", s, rows=rows, total=total, page_no=page_no,
                  pages=(total + data.PAGE - 1) // data.PAGE)


@router.post("/devices/approve", include_in_schema=False)
def approve_baseline(w: WebDep, s: AdminDep, csrf: str = Form(""),
                     ip: str = Form(..., max_length=64)) -> Response:
    """The manager approves what a device exposes now (4-③); later cycles raise
    probe.unapproved_service for anything else."""
    w.check_csrf(s, csrf, None)

    def do(c: Any) -> int:
        n = probes_q.approve(c, ip, s.username, time.time())
        sec.audit(c, s.username, "baseline approved", f"{ip}: {n} service(s)")
        return n

    try:
        w.store().write(do)
    except ValueError as exc:
        raise HTTPException(409, str(exc)) from exc
    return RedirectResponse("/devices", status_code=303)
