"""The rental-PC page (#18, guideline category 5): each PC the facility lends, what it runs, until
when that is supported, when it was last seen and its open findings; administrators register
and remove PCs here (the config file's [[rental_pcs]] count too and are shown read-only).

The dashboard asks, the agent acts: registering writes one row; the agent's next probe cycle
examines the PC.
"""

from __future__ import annotations

import json
import sqlite3
import time
from typing import Any

from fastapi import APIRouter, Form, HTTPException, Request, Response
from fastapi.responses import RedirectResponse

from appliance.config import Config, ConfigError, from_mapping
from appliance.domain import ACTIVE
from appliance.store import findings as findings_q
from appliance.store import observations, probes
from web import security as sec
from web.routes.deps import AdminDep, SessionDep, Web, WebDep


def rows(conn: sqlite3.Connection, config: Config) -> list[dict[str, Any]]:
    pcs: list[dict[str, Any]] = [
        {"label": p.label, "mac": p.mac, "ip": p.ip, "edition": p.edition,
         "esu_until": p.esu_until, "where": "config", "id": None} for p in config.rental_pcs]
    labels = {p["label"] for p in pcs}
    for r in probes.rental_pcs(conn):
        if r["label"] not in labels:
            pcs.append({"label": r["label"], "mac": r["mac"], "ip": r["ip"],
                        "edition": r["edition"], "esu_until": r["esu_until"],
                        "where": "dashboard", "id": r["id"]})
    for pc in pcs:
        o = probes.os_of(conn, pc["label"], pc["mac"], pc["ip"])
        pc["os"] = o
        if o:
            ev = json.loads(o["evidence"])
            pc["edition_assumed"] = bool((ev.get("support") or {}).get("edition_assumed"))
            pc["findings"] = findings_q.of_subject(conn, "probe.os_eol", f"{o['ip']} os",
                                                   ACTIVE)
        else:
            pc["findings"] = []
        hint = observations.os_hint(conn, pc["mac"]) if pc["mac"] else None
        pc["hint"] = hint | {"matched": json.loads(hint["evidence"]).get("matched", "")} \
            if hint else None
    return pcs


def _entry(label: str, mac: str, ip: str, edition: str, esu_until: str, esu_evidence: str
           ) -> dict[str, str]:
    raw = {"label": label.strip(), "mac": mac.strip(), "ip": ip.strip(),
           "edition": edition.strip(), "esu_until": esu_until.strip(),
           "esu_evidence": esu_evidence.strip()}
    entry = {k: v for k, v in raw.items() if v}
    pc = from_mapping({"rental_pcs": [entry]}).rental_pcs[0]  # the config file's own rules
    return {"label": pc.label, "mac": pc.mac, "ip": pc.ip, "edition": pc.edition,
            "esu_until": pc.esu_until, "esu_evidence": pc.esu_evidence}


router = APIRouter()


def _show(w: Web, request: Request, s: sec.Session, error: str = "",
          status: int = 200) -> Response:
    pcs = w.store().read_with(lambda c: rows(c, w.config))
    r = w.page(request, "rental.html", s, pcs=pcs, error=error, config=w.config)
    r.status_code = status
    return r


@router.get("/rental", include_in_schema=False)
def rental_page(request: Request, w: WebDep, s: SessionDep) -> Response:
    return _show(w, request, s)


@router.post("/rental/add", include_in_schema=False)
def rental_add(request: Request, w: WebDep, s: AdminDep,
               csrf: str = Form(""), label: str = Form("", max_length=64),
               mac: str = Form("", max_length=32), ip: str = Form("", max_length=64),
               edition: str = Form("", max_length=32),
               esu_until: str = Form("", max_length=10),
               esu_evidence: str = Form("", max_length=500)) -> Response:
    w.check_csrf(s, csrf, None)
    try:
        e = _entry(label, mac, ip, edition, esu_until, esu_evidence)
    except ConfigError as exc:
        return _show(w, request, s, str(exc).replace("rental_pcs.0.", "").replace(
            "rental_pcs: 0 ", ""), 400)
    if e["label"] in {p.label for p in w.config.rental_pcs}:
        return _show(w, request, s, f"{e['label']}: already in the configuration file", 409)

    def do(c: sqlite3.Connection) -> bool:
        if not probes.add_rental_pc(c, e, s.username, time.time()):
            return False
        sec.audit(c, s.username, "rental PC registered", json.dumps(e, ensure_ascii=False))
        return True

    if not w.store().write(do):
        return _show(w, request, s, f"{e['label']}: already registered", 409)
    return RedirectResponse("/rental", status_code=303)


@router.post("/rental/remove", include_in_schema=False)
def rental_remove(w: WebDep, s: AdminDep, csrf: str = Form(""),
                  pc_id: int = Form(...)) -> Response:
    w.check_csrf(s, csrf, None)

    def do(c: sqlite3.Connection) -> int:
        label = probes.remove_rental_pc(c, pc_id)
        if label is None:
            return 0
        sec.audit(c, s.username, "rental PC removed", label)
        return 1

    if not w.store().write(do):
        raise HTTPException(404)
    return RedirectResponse("/rental", status_code=303)
