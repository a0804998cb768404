"""Write a probe cycle in one transaction: run row, inventory, ports, findings (new ones raised,
old ones of checks that ran and came back clean resolved). Runs on the store's writer thread."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from agent.probe.checks import Outcome
from agent.probe.osrecord import record_os
from appliance.domain import ACTIVE
from appliance.findings import FindingChange, FindingDraft, apply_drafts
from appliance.store import findings as findings_q
from appliance.store import observations, probes


def record_cycle(conn: sqlite3.Connection, doc: dict[str, Any], out: Outcome
                 ) -> tuple[int, list[FindingChange]]:
    now = doc["finished_at"]
    n_open = 0
    for h in doc["hosts"]:
        d = h.get("device") or {}
        statuses = [a["status"] for a in h.get("firmware", []) if a.get("kind") == "device"]
        fws = statuses[0] if statuses else ("unknown" if not h.get("firmware") else "component")
        probes.upsert_device(
            conn, h["ip"], h.get("mac", ""), d.get("vendor", ""), d.get("model", ""),
            d.get("firmware", ""), d.get("class", "other"), fws,
            json.dumps({"device": d.get("evidence", {}), "firmware": h.get("firmware", []),
                        "advisories": h.get("advisories", [])}, ensure_ascii=False),
            doc["started_at"], now)
        if h.get("incomplete"):
            continue
        n_open += probes.replace_ports(conn, h["ip"], h.get("ports", []), now)
    run_id = probes.add_run(
        conn, doc["started_at"], now, json.dumps(doc["jobs"]), json.dumps(doc["scope"]),
        len(doc["hosts"]), n_open,
        json.dumps([{k: c[k] for k in ("check", "measure", "result", "subject", "coverage",
                                       "examined") if k in c}
                    for c in doc["checks"]], ensure_ascii=False),
        json.dumps(sorted(out.covered)), json.dumps(doc["refused"], ensure_ascii=False),
        json.dumps(doc["errors"], ensure_ascii=False), doc.get("packets", 0))
    record_os(conn, doc)
    raised = {(d.rule, d.subject) for d in out.drafts}
    clears: list[FindingDraft] = []
    for rule, prefix in out.cleared:
        for r in findings_q.with_prefix(conn, rule, prefix, ACTIVE):
            if (r["rule"], r["subject"]) not in raised:
                clears.append(FindingDraft(r["rule"], r["measure"], r["severity"], r["subject"],
                                           r["title_ja"], r["title_en"], now,
                                           {"probe_run": run_id}, clear=True))
    changes = apply_drafts(conn, [*out.drafts, *clears])
    return run_id, changes


# the reads and writes below are the store's (appliance/store/probes.py); these names stay
coverage = probes.coverage
baseline = probes.baseline
approve = probes.approve
import_advisories = probes.import_advisories
load_advisories = probes.load_advisories


inventory = observations.stations_since
