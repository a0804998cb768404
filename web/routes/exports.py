"""Exports for the inspector: the signed folders, download as zip, the signing public key, and
"run export now" (a request the agent carries out, as it does the monthly one)."""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import RedirectResponse, Response, StreamingResponse

from appliance import public_key
from appliance.store import exports as exports_q
from appliance.store.commands import CommandKind
from web import commands as asks
from web import data
from web import security as sec
from web.routes.deps import AdminDep, SessionDep, WebDep

router = APIRouter()


@router.get("/exports", include_in_schema=False)
def exports_page(request: Request, w: WebDep, s: SessionDep) -> Response:
    rows, cmd = w.store().read_with(lambda c: (data.exports(c),
                                               asks.latest(c, CommandKind.RUN_EXPORT)))
    if "signing_key" not in w.key_cache:
        # written by whoever made the key (first boot, an export): only read here
        info = public_key.read_info(w.config.data_dir)
        if info is None:
            return w.page(request, "exports.html", s, rows=rows, key=None, cmd=cmd)
        w.key_cache["signing_key"] = info  # the key does not change while we run
    return w.page(request, "exports.html", s, rows=rows, key=w.key_cache["signing_key"],
                  cmd=cmd)


@router.post("/exports/run", include_in_schema=False)
def exports_run(w: WebDep, s: AdminDep, csrf: str = Form(""),
                period: str = Form("", max_length=7)) -> Response:
    """The agent writes the export now (last month's, or PERIOD YYYY-MM)."""
    w.check_csrf(s, csrf, None)
    if period and not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", period):
        raise HTTPException(400, "period: YYYY-MM")
    asks.ask(w.store(), CommandKind.RUN_EXPORT, {"period": period} if period else {},
             s.username)
    return RedirectResponse("/exports", status_code=303)


@router.get("/exports/{eid}/download", include_in_schema=False)
def export_download(eid: int, w: WebDep, s: SessionDep) -> Response:
    w.row_id(eid)
    row = w.store().read_with(lambda c: exports_q.downloadable(c, eid))
    if row is None or not Path(row["path"]).is_dir():
        raise HTTPException(404, "no such export (or its folder was removed)")
    folder = Path(row["path"])
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for f in sorted(folder.rglob("*")):
            if f.is_file() and not f.is_symlink():
                z.write(f, f"{folder.name}/{f.relative_to(folder)}")
    w.store().write(lambda c: sec.audit(c, s.username, "export download", str(eid)))
    buf.seek(0)
    name = f"officeguard-export-{int(eid)}.zip"
    return StreamingResponse(buf, media_type="application/zip", headers={
        "Content-Disposition": f'attachment; filename="{name}"'})
