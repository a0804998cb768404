"""What the pages show, read from the store. Each function takes a read connection."""

from __future__ import annotations

import json
import sqlite3
import time
from datetime import date
from typing import Any

from appliance import attestations as att
from appliance.compliance import evaluate
from appliance.config import Config
from appliance.domain import SEVERITIES_WORST_FIRST
from appliance.guideline import Catalog
from appliance.store import aps as aps_q
from appliance.store import auth as auth_q
from appliance.store import exports as exports_q
from appliance.store import findings as findings_q
from appliance.store import meta, observations
from appliance.store import probes as probes_q
from appliance.store import surveys as surveys_q

SEVERITIES: tuple[str, ...] = SEVERITIES_WORST_FIRST  # the pages list the worst first
_ORDER = {"fail": 0, "evidence_invalid": 0, "expired": 1, "warn": 2, "unknown": 3, "pass": 4,
          "not_applicable": 5}
PAGE = 50


def compliance(conn: sqlite3.Connection, config: Config, catalog: Catalog) -> dict[str, Any]:
    return evaluate(catalog, att.gather_facts(conn, config, catalog, date.today(), per_group=2))


def categories(doc: dict[str, Any], catalog: Catalog) -> list[dict[str, Any]]:
    out = []
    for c in catalog.categories:
        ms = [m for m in doc["measures"] if m["category"] == c.id]
        verdicts = [m["verdict"] for m in ms]
        worst = min(verdicts, key=lambda v: _ORDER.get(v, 9)) if verdicts else "unknown"
        out.append({"id": c.id, "title_ja": c.title_ja, "title_en": c.title_en,
                    "verdict": worst, "measures": len(ms),
                    "counts": {v: verdicts.count(v) for v in set(verdicts)}})
    return out


def changes_since(conn: sqlite3.Connection, since: float, limit: int = 20
                  ) -> list[dict[str, Any]]:
    return findings_q.changes_since(conn, since, limit)


def agent_state(conn: sqlite3.Connection) -> dict[str, Any] | None:
    raw = meta.get(conn, meta.AGENT)
    if raw is None:
        return None
    try:
        doc: dict[str, Any] = json.loads(raw)
    except ValueError:
        return None
    return doc


def last_probe(conn: sqlite3.Connection) -> dict[str, Any] | None:
    return probes_q.last_run(conn)


def finding_counts(conn: sqlite3.Connection, status: str = "", measure: str = "", q: str = ""
                   ) -> dict[str, int]:
    """Findings per severity under a filter (the dashboard caches this for a moment)."""
    return findings_q.counts_by_severity(conn, status, measure, q)


def findings(conn: sqlite3.Connection, status: str = "", severity: str = "", measure: str = "",
             q: str = "", offset: int = 0, limit: int = PAGE,
             counts: dict[str, int] | None = None) -> tuple[list[dict[str, Any]], int]:
    """One page, most severe first, newest first within a severity: counted per severity, then
    read severity by severity along the (severity, last_seen) index, so a page never sorts the
    whole table."""
    if counts is None:
        counts = finding_counts(conn, status, measure, q)
    sevs = [severity] if severity else list(SEVERITIES)
    total = sum(counts.get(s, 0) for s in sevs)
    rows: list[dict[str, Any]] = []
    skip = offset
    for sev in sevs:
        n = counts.get(sev, 0)
        if skip >= n:
            skip -= n
            continue
        want = limit - len(rows)
        rows += findings_q.page_of_severity(conn, sev, status, measure, q, want, skip)
        skip = 0
        if len(rows) >= limit:
            break
    return rows, int(total)


def finding(conn: sqlite3.Connection, fid: int) -> dict[str, Any] | None:
    doc = findings_q.get(conn, fid)
    if doc is None:
        return None
    try:
        doc["evidence"] = json.loads(doc["evidence"])
    except ValueError:
        doc["evidence"] = {}
    doc["history"] = findings_q.history(conn, fid)
    return doc


def access_points(conn: sqlite3.Connection, config: Config, limit: int = 500
                  ) -> list[dict[str, Any]]:
    names = {s.name for s in config.facility.ssids}
    bssids = {b for s in config.facility.ssids for b in s.bssids}
    out = []
    for r in aps_q.listing(conn, limit):
        d = dict(r)
        # with BSSIDs listed, a facility SSID from another BSSID is a look-alike, not ours
        listed = {b for sc in config.facility.ssids if sc.name == r["ssid"] for b in sc.bssids}
        d["facility"] = r["bssid"] in bssids or (r["ssid"] in names and not listed)
        d["impostor"] = r["ssid"] in names and bool(listed) and r["bssid"] not in listed
        d["rssi_mean"] = round(r["rssi_sum"] / r["rssi_n"], 1) if r["rssi_n"] else None
        d["ssid_malformed"] = len(r["ssid_hex"] or "") > 64  # over 32 bytes: not an SSID
        out.append(d)
    out.sort(key=lambda a: (not a["facility"], a["ssid"]))
    return out


def latest_rssi(conn: sqlite3.Connection, bssids: list[str]) -> float | None:
    """When the newest signal reading of these BSSIDs was taken (capture time)."""
    return observations.latest_minute(conn, bssids)


def rssi_series(conn: sqlite3.Connection, bssid: str, since: float) -> list[tuple[float, float]]:
    return observations.rssi_series(conn, bssid, since)


def wifi_findings(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    return findings_q.active_of_rules(conn, "wifi.", 100)


def surveys(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    return surveys_q.recent(conn, 20)


def devices(conn: sqlite3.Connection, offset: int = 0, limit: int = PAGE
            ) -> tuple[list[dict[str, Any]], int]:
    total = probes_q.device_count(conn)
    rows = probes_q.device_page(conn, offset, limit)
    return rows, int(total)


def probe_runs(conn: sqlite3.Connection, limit: int = 20) -> list[dict[str, Any]]:
    out = []
    for r in probes_q.recent_runs(conn, limit):
        d = dict(r)
        checks = json.loads(r["checks"])
        d["failed"] = sum(1 for c in checks if c["result"] == "fail")
        d["checks_n"] = len(checks)
        d["jobs"] = ", ".join(json.loads(r["jobs"]))
        d["refused"] = json.loads(r["refused"])
        d["errors"] = json.loads(r["errors"])
        out.append(d)
    return out


def exports(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    return exports_q.recent(conn, 50)


def alert_tests(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    return findings_q.alert_tests(conn, limit=10)


def users(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    return auth_q.users(conn)


def system() -> dict[str, Any]:
    import netifaces
    import psutil

    temps: dict[str, float] = {}
    try:
        for name, entries in (psutil.sensors_temperatures() or {}).items():
            if entries:
                temps[name] = entries[0].current
    except (AttributeError, OSError):
        pass
    vm = psutil.virtual_memory()
    disk = psutil.disk_usage("/")
    ifaces = []
    for name in netifaces.interfaces():
        a = netifaces.ifaddresses(name)
        ifaces.append({"name": name,
                       "mac": a.get(netifaces.AF_LINK, [{}])[0].get("addr", ""),
                       "ipv4": [x.get("addr", "") for x in a.get(netifaces.AF_INET, [])]})
    return {"cpu_percent": psutil.cpu_percent(interval=None), "temperatures": temps,
            "memory": {"total": vm.total, "used": vm.used, "percent": vm.percent},
            "disk": {"total": disk.total, "used": disk.used, "percent": disk.percent},
            "load": list(psutil.getloadavg()), "uptime_s": time.time() - psutil.boot_time(),
            "interfaces": ifaces}


def top_actions(conn: sqlite3.Connection, doc: dict[str, Any], catalog: Any, limit: int = 6
                ) -> list[dict[str, Any]]:
    """What to fix first: open critical and high findings (newest first), then failing
    measures not already named by one of them; each with the one step the guideline gives."""
    from appliance.wording import measure_label

    out: list[dict[str, Any]] = []
    seen_measures: set[str] = set()
    for r in findings_q.urgent(conn, limit):
        try:
            m = catalog.measure(r["measure"])
            step_ja, step_en = m.remediation_ja, m.remediation_en
        except KeyError:
            step_ja = step_en = ""
        seen_measures.add(r["measure"])
        out.append({"kind": "finding", "href": f"/findings/{r['id']}",
                    "severity": r["severity"], "measure": r["measure"],
                    "measure_label": measure_label(r["measure"]), "subject": r["subject"],
                    "title_ja": r["title_ja"], "title_en": r["title_en"],
                    "step_ja": step_ja, "step_en": step_en})
    for m in doc.get("measures", []):
        if len(out) >= limit:
            break
        if m["verdict"] == "fail" and m["measure"] not in seen_measures:
            out.append({"kind": "measure", "href": f"/measures/{m['measure']}",
                        "severity": "", "measure": m["measure"],
                        "measure_label": measure_label(m["measure"]), "subject": "",
                        "title_ja": m["title_ja"], "title_en": m["title_en"],
                        "step_ja": m.get("remediation_ja", ""),
                        "step_en": m.get("remediation_en", "")})
    return out


def estimate_sentence(doc: dict[str, Any], lang: str, catalog: Any) -> dict[str, str]:
    """The estimate in one plain sentence: the level it stands at now, why (the grade of each
    of the framework's axes and the failing measures), and how many measures lack data. The
    optimistic bound is named only when the estimate shows it (medium confidence or better)."""
    from appliance.i18n import gettext, pgettext
    from appliance.wording import confidence, confidence_level

    e, g = doc["estimate"], doc["grades"]
    labels = {int(lv["level"]): lv for lv in catalog.scheme["levels"]}
    unknown = sum(1 for m in doc.get("measures", [])
                  if m["verdict"] in ("unknown", "expired", "evidence_invalid"))
    failing = sum(1 for m in doc.get("measures", []) if m["verdict"] == "fail")
    level = e.get("confidence_level") or confidence_level(float(e.get("confidence", 0)))
    best = e.get("level_optimistic") if e.get("optimistic_shown") else None
    key = "label_en" if lang == "en" else "label_ja"
    now = labels[int(e["level"])][key]
    title = "title_en" if lang == "en" else "title_ja"
    axes = [(a.get(title) or a["title_ja"], g.get(a["id"], "?")) for a in doc.get("axes", [])]
    why = pgettext("axes separator", ", ", lang).join(
        gettext("{axis} grade {grade}", lang, axis=t, grade=v) for t, v in axes)
    text = gettext("Estimated level now: {now}. Why: {why}; {failing} measures fail. Measures "
                   "without data: {unknown}.", lang, now=now, why=why, failing=failing,
                   unknown=unknown)
    if best is not None:
        text = gettext("{text} With data for them it could reach {best}.", lang, text=text,
                       best=labels[int(best)][key])
    return {"text": text, "confidence_word": gettext("confidence", lang),
            "confidence": confidence(level, lang), "level": level}


def open_trend(conn: sqlite3.Connection, now: float, tz: str, open_now: int, days: int = 14
               ) -> list[dict[str, Any]]:
    """Open findings at the end of each of the last DAYS days, walked back from the count now
    through the changes recorded since (one indexed range read, whatever the table's size)."""
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(tz)
    today = datetime.fromtimestamp(now, zone).replace(hour=0, minute=0, second=0,
                                                      microsecond=0)
    start = (today - timedelta(days=days - 1)).timestamp()
    delta = {"new": 1, "reopened": 1, "resolved": -1}
    moves = findings_q.open_moves_since(conn, start)
    out = []
    n, i = open_now, 0
    for k in range(days):
        day = today - timedelta(days=k)
        end = (day + timedelta(days=1)).timestamp()
        while i < len(moves) and moves[i][0] >= end:  # undo what came after this day
            n -= delta[moves[i][1]]
            i += 1
        out.append({"day": day.strftime("%m/%d"), "open": max(0, n)})
    return out[::-1]
