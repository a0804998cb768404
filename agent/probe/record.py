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
from appliance.store import baseline as baseline_sql


def record_cycle(conn: sqlite3.Connection, doc: dict[str, Any], out: Outcome
                 ) -> tuple[int, list[FindingChange]]:
    now = doc["finished_at"]
    n_open = 0
    for h in doc["hosts"]:
        d = h.get("device") or {}
        statuses = [a["status"] for a in h.get("firmware", []) if a.get("kind") == "device"]
        fws = statuses[0] if statuses else ("unknown" if not h.get("firmware") else "component")
        conn.execute(
            "INSERT INTO devices (ip, mac, vendor, model, firmware, class, firmware_status, "
            "evidence, first_seen, last_seen) VALUES (?,?,?,?,?,?,?,?,?,?) "
            "ON CONFLICT (ip) DO UPDATE SET mac = CASE WHEN excluded.mac != '' THEN excluded.mac "
            "ELSE devices.mac END, vendor = excluded.vendor, model = excluded.model, "
            "firmware = excluded.firmware, class = excluded.class, "
            "firmware_status = excluded.firmware_status, evidence = excluded.evidence, "
            "last_seen = excluded.last_seen",
            (h["ip"], h.get("mac", ""), d.get("vendor", ""), d.get("model", ""),
             d.get("firmware", ""), d.get("class", "other"), fws,
             json.dumps({"device": d.get("evidence", {}), "firmware": h.get("firmware", []),
                         "advisories": h.get("advisories", [])}, ensure_ascii=False),
             doc["started_at"], now))
        if h.get("incomplete"):
            continue
        conn.execute("DELETE FROM device_ports WHERE ip = ? AND last_seen < ?", (h["ip"], now))
        for p in h.get("ports", []):
            n_open += 1
            conn.execute(
                "INSERT INTO device_ports (ip, port, proto, service, product, version, banner, "
                "first_seen, last_seen) VALUES (?,?,?,?,?,?,?,?,?) ON CONFLICT (ip, port, proto) "
                "DO UPDATE SET service = excluded.service, product = excluded.product, "
                "version = excluded.version, banner = excluded.banner, "
                "last_seen = excluded.last_seen",
                (h["ip"], p["port"], p["proto"], p.get("service", ""), p.get("product", ""),
                 p.get("version", ""), p.get("banner", ""), now, now))
    cur = conn.execute(
        "INSERT INTO probe_runs (started_at, finished_at, jobs, scope, hosts, open_ports, checks, "
        "coverage, refused, errors, packets) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        (doc["started_at"], now, json.dumps(doc["jobs"]), json.dumps(doc["scope"]),
         len(doc["hosts"]), n_open,
         json.dumps([{k: c[k] for k in ("check", "measure", "result", "subject", "coverage",
                                        "examined") if k in c}
                     for c in doc["checks"]], ensure_ascii=False),
         json.dumps(sorted(out.covered)), json.dumps(doc["refused"], ensure_ascii=False),
         json.dumps(doc["errors"], ensure_ascii=False), doc.get("packets", 0)))
    run_id = int(cur.lastrowid or 0)
    record_os(conn, doc)
    raised = {(d.rule, d.subject) for d in out.drafts}
    clears: list[FindingDraft] = []
    marks = ",".join("?" * len(ACTIVE))
    for rule, prefix in out.cleared:
        for r in conn.execute(
                f"SELECT rule, measure, severity, subject, title_ja, title_en FROM findings "  # noqa: S608
                f"WHERE rule = ? AND substr(subject, 1, ?) = ? AND status IN ({marks})",
                (rule, len(prefix), prefix, *ACTIVE)):
            if (r["rule"], r["subject"]) not in raised:
                clears.append(FindingDraft(r["rule"], r["measure"], r["severity"], r["subject"],
                                           r["title_ja"], r["title_en"], now,
                                           {"probe_run": run_id}, clear=True))
    changes = apply_drafts(conn, [*out.drafts, *clears])
    return run_id, changes


def coverage(conn: sqlite3.Connection, since: float) -> set[str]:
    keys: set[str] = set()
    for (cov,) in conn.execute("SELECT coverage FROM probe_runs WHERE finished_at >= ?",
                               (since,)):
        keys.update(json.loads(cov))
    return keys


def baseline(conn: sqlite3.Connection) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for r in conn.execute("SELECT ip, port, proto FROM probe_baseline"):
        out.setdefault(r["ip"], []).append({"port": r["port"], "proto": r["proto"]})
    return out


def approve(conn: sqlite3.Connection, ip: str, actor: str, now: float) -> int:
    """Approve the ports the last cycle saw open on IP as its baseline (the SQL is the
    store's: appliance/store/baseline.py, shared with the dashboard)."""
    return baseline_sql.approve(conn, ip, actor, now)


def import_advisories(conn: sqlite3.Connection, advisories: list[Any], now: float) -> int:
    for a in advisories:
        conn.execute(
            "INSERT INTO advisories VALUES (?,?,?,?,?,?,?,?) ON CONFLICT (id) DO UPDATE SET "
            "title = excluded.title, url = excluded.url, published = excluded.published, "
            "cvss = excluded.cvss, severity = excluded.severity, products = excluded.products, "
            "imported_at = excluded.imported_at",
            (a.id, a.title, a.url, a.published, a.cvss, a.severity,
             json.dumps(a.products, ensure_ascii=False), now))
    return len(advisories)


def load_advisories(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    return [{"id": r["id"], "title": r["title"], "url": r["url"], "published": r["published"],
             "cvss": r["cvss"], "severity": r["severity"],
             "products": [tuple(p) for p in json.loads(r["products"])]}
            for r in conn.execute("SELECT * FROM advisories")]


def inventory(conn: sqlite3.Connection, since: float) -> dict[str, str]:
    return {r["ip"]: r["mac"] for r in conn.execute(
        "SELECT ip, mac FROM stations WHERE last_seen >= ? ORDER BY last_seen", (since,))}
