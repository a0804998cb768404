"""Findings: the list (cached rendered table), one finding, acknowledging and resolving."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Form, HTTPException, Query, Request
from fastapi.responses import RedirectResponse, Response

from web import data, i18n
from web import security as sec
from web.routes.deps import AdminDep, SessionDep, Web, WebDep

router = APIRouter()


@router.get("/findings", include_in_schema=False)
async def findings_page(request: Request, w: WebDep, s: SessionDep,
                        status: str = Query("active", max_length=20),
                        severity: str = Query("", max_length=20),
                        measure: str = Query("", max_length=10),
                        q: str = Query("", max_length=100),
                        page_no: int = Query(0, ge=0, alias="page")) -> Response:
    lang = w.lang_of(request)
    key = (status, severity, measure, q, page_no, lang, s.can_write)
    with w.counts_lock:  # the rendered table is kept as long as the counts are
        hit = w.table_cache.get(key)
    if hit and time.monotonic() - hit[0] < w.counts_ttl_s:
        table, total = hit[1], hit[2]
    else:
        counts = w.counts_for(status, measure, q)
        rows, total = w.store().read_with(lambda c: data.findings(
            c, status, severity, measure, q, page_no * data.PAGE, counts=counts))
        table = w.env.get_template("findings_rows.html").render(
            _=i18n.translator(lang), lang=lang, s=s, rows=rows)
        with w.counts_lock:
            if len(w.table_cache) > 256:
                w.table_cache.clear()
            w.table_cache[key] = (time.monotonic(), table, total)
    return w.page(request, "findings.html", s, table=table, total=total, status=status,
                  severity=severity, measure=measure, q=q, page_no=page_no,
                  pages=(total + data.PAGE - 1) // data.PAGE)


@router.get("/findings/{fid}", include_in_schema=False)
def finding_page(request: Request, fid: int, w: WebDep, s: SessionDep) -> Response:
    w.row_id(fid)
    f = w.store().read_with(lambda c: data.finding(c, fid))
    if f is None:
        raise HTTPException(404)
    try:
        measure: Any = w.catalog.measure(f["measure"])
    except KeyError:
        measure = None
    return w.page(request, "finding.html", s, f=f, measure=measure,
                  evidence=i18n.evidence_items(f.get("evidence") or {}, w.lang_of(request)))


def change_status(w: Web, fid: int, status: str, note: str, s: sec.Session) -> None:
    from appliance.findings import set_status

    def do(c: Any) -> None:
        set_status(c, fid, status, time.time(), s.username, note)
        sec.audit(c, s.username, f"finding {status}", str(fid))

    try:
        w.store().write(do)
    except KeyError as exc:
        raise HTTPException(404, "no such finding") from exc
    w.invalidate_findings()


@router.post("/findings/{fid}/status", include_in_schema=False)
def finding_status(fid: int, w: WebDep, s: AdminDep,
                   status: str = Form(..., pattern="^(acknowledged|resolved)$"),
                   note: str = Form("", max_length=500), csrf: str = Form(""),
                   back: str = Form("")) -> Response:
    w.check_csrf(s, csrf, None)
    change_status(w, w.row_id(fid), status, note, s)
    return RedirectResponse(w.safe_next(back) if back else f"/findings/{fid}",
                            status_code=303)


@router.post("/findings/ack", include_in_schema=False)
def finding_ack(w: WebDep, s: AdminDep, fid: int = Form(...), csrf: str = Form(""),
                back: str = Form("")) -> Response:
    """The findings list's per-row button: one form on the page, the row's id as value."""
    w.check_csrf(s, csrf, None)
    change_status(w, w.row_id(fid), "acknowledged", "", s)
    return RedirectResponse(w.safe_next(back) if back else "/findings", status_code=303)
