"""Dashboard routes for compliance work: attesting a check with an uploaded evidence file, and
reviewing attestations: a router (`router`) that web/routes/__init__.py includes.

The dashboard only stores what the manager hands it (the file, hashed, as `officeguard attest`
does); it does no network work.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Form, UploadFile
from fastapi.responses import RedirectResponse, Response

from appliance import attestations as att
from appliance.config import Config
from web import security as sec
from web.routes.deps import AdminDep, WebDep


async def _save_upload(config: Config, up: UploadFile) -> tuple[str, str, int]:
    """Stream the upload to a private temporary file (never more than the evidence cap),
    then store it under its SHA-256 exactly as the command line does."""
    name = Path(up.filename or "evidence").name[:200] or "evidence"
    tmp_dir = att.evidence_dir(config)
    tmp_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=tmp_dir, prefix=".upload-")
    size = 0
    try:
        with os.fdopen(fd, "wb") as out:
            while chunk := await up.read(1 << 20):
                size += len(chunk)
                if size > att.MAX_EVIDENCE_BYTES:
                    raise att.AttestError(f"{name}: larger than "
                                          f"{att.MAX_EVIDENCE_BYTES // 2**20} MB")
                out.write(chunk)
        digest, n = att.store_evidence(config, Path(tmp))
        return name, digest, n
    finally:
        Path(tmp).unlink(missing_ok=True)


router = APIRouter()


@router.post("/measures/{mid}/attest", include_in_schema=False)
async def attest(mid: str, w: WebDep, s: AdminDep,
                 csrf: str = Form(""), check: str = Form(..., max_length=64),
                 result: str = Form("pass", pattern="^(pass|fail|not_applicable)$"),
                 note: str = Form("", max_length=1000),
                 valid_days: int = Form(0, ge=0, le=1_000_000),
                 evidence: list[UploadFile] | None = None) -> Response:
    w.check_csrf(s, csrf, None)
    files = [f for f in (evidence or []) if f.filename]
    days = valid_days or att.default_valid_days(w.catalog, mid, check)
    try:
        stored = [await _save_upload(w.config, f) for f in files]

        def do(c: Any) -> int:
            aid = att.record(c, w.catalog, mid, check, result, s.username, note, days,
                             stored)
            sec.audit(c, s.username, "attested",
                      f"{mid} {check} {result}: {len(stored)} file(s)")
            return aid

        w.store().write(do)
    except att.AttestError as exc:
        # back to the form, saying what was wrong; nothing was recorded
        return RedirectResponse(f"/measures/{quote(mid)}?error={quote(str(exc))}#attest",
                                status_code=303)
    w.invalidate_compliance()
    return RedirectResponse(f"/measures/{quote(mid)}?attested={int(time.time())}#attest",
                            status_code=303)
