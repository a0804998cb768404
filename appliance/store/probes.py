"""SQL of the probes family: `probe_runs`, the probed inventory (`devices`, `device_ports`),
the approved services (`probe_baseline`), JVN `advisories`, the operating systems read
(`device_os`) and the `rental_pcs` registered on the dashboard. The probe decides what to write
(agent/probe/record.py, osrecord.py); the rows are written here, inside the caller's
transaction."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any


def _rows(cur: sqlite3.Cursor) -> list[dict[str, Any]]:
    names = [d[0] for d in cur.description]
    return [dict(zip(names, tuple(r), strict=True)) for r in cur]


# -- a cycle ----------------------------------------------------------------------------------


def upsert_device(conn: sqlite3.Connection, ip: str, mac: str, vendor: str, model: str,
                  firmware: str, klass: str, firmware_status: str, evidence: str,
                  first_seen: float, last_seen: float) -> None:
    """The device at IP as this cycle saw it (an empty MAC keeps the one known)."""
    conn.execute(
        "INSERT INTO devices (ip, mac, vendor, model, firmware, class, firmware_status, "
        "evidence, first_seen, last_seen) VALUES (?,?,?,?,?,?,?,?,?,?) "
        "ON CONFLICT (ip) DO UPDATE SET mac = CASE WHEN excluded.mac != '' THEN excluded.mac "
        "ELSE devices.mac END, vendor = excluded.vendor, model = excluded.model, "
        "firmware = excluded.firmware, class = excluded.class, "
        "firmware_status = excluded.firmware_status, evidence = excluded.evidence, "
        "last_seen = excluded.last_seen",
        (ip, mac, vendor, model, firmware, klass, firmware_status, evidence, first_seen,
         last_seen))


def replace_ports(conn: sqlite3.Connection, ip: str, ports: Iterable[dict[str, Any]],
                  now: float) -> int:
    """The open ports of IP are those of this cycle; returns how many."""
    conn.execute("DELETE FROM device_ports WHERE ip = ? AND last_seen < ?", (ip, now))
    n = 0
    for p in ports:
        n += 1
        conn.execute(
            "INSERT INTO device_ports (ip, port, proto, service, product, version, banner, "
            "first_seen, last_seen) VALUES (?,?,?,?,?,?,?,?,?) ON CONFLICT (ip, port, proto) "
            "DO UPDATE SET service = excluded.service, product = excluded.product, "
            "version = excluded.version, banner = excluded.banner, "
            "last_seen = excluded.last_seen",
            (ip, p["port"], p["proto"], p.get("service", ""), p.get("product", ""),
             p.get("version", ""), p.get("banner", ""), now, now))
    return n


def add_run(conn: sqlite3.Connection, started_at: float, finished_at: float, jobs: str,
            scope: str, hosts: int, open_ports: int, checks: str, coverage: str, refused: str,
            errors: str, packets: int) -> int:
    """One probe cycle's row (the JSON columns already encoded); returns its id."""
    cur = conn.execute(
        "INSERT INTO probe_runs (started_at, finished_at, jobs, scope, hosts, open_ports, checks, "
        "coverage, refused, errors, packets) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        (started_at, finished_at, jobs, scope, hosts, open_ports, checks, coverage, refused,
         errors, packets))
    return int(cur.lastrowid or 0)


def upsert_os(conn: sqlite3.Connection, ip: str, mac: str, rental_label: str, family: str,
              name: str, version: str, source: str, eol: str, status: str,
              catalog_as_of: str, evidence: str, last_seen: float) -> None:
    conn.execute(
        "INSERT INTO device_os (ip, mac, rental_label, family, name, version, source, eol, "
        "status, catalog_as_of, evidence, last_seen) VALUES (?,?,?,?,?,?,?,?,?,?,?,?) "
        "ON CONFLICT (ip) DO UPDATE SET mac = excluded.mac, "
        "rental_label = excluded.rental_label, family = excluded.family, "
        "name = excluded.name, version = excluded.version, source = excluded.source, "
        "eol = excluded.eol, status = excluded.status, "
        "catalog_as_of = excluded.catalog_as_of, evidence = excluded.evidence, "
        "last_seen = excluded.last_seen",
        (ip, mac, rental_label, family, name, version, source, eol, status, catalog_as_of,
         evidence, last_seen))


# -- reads the next cycle builds on -------------------------------------------------------------


def coverage(conn: sqlite3.Connection, since: float) -> set[str]:
    """Every coverage key of the cycles finished since SINCE."""
    keys: set[str] = set()
    for (cov,) in conn.execute("SELECT coverage FROM probe_runs WHERE finished_at >= ?",
                               (since,)):
        keys.update(json.loads(cov))
    return keys


def device_ips_since(conn: sqlite3.Connection, since: float) -> list[str]:
    return [str(r[0]) for r in conn.execute("SELECT ip FROM devices WHERE last_seen >= ?",
                                            (since,))]


def devices_last_seen(conn: sqlite3.Connection, since: float) -> dict[str, float]:
    """IP -> when an earlier probe cycle last found the device there, for those since SINCE."""
    return {str(ip): float(ts) for ip, ts in conn.execute(
        "SELECT ip, last_seen FROM devices WHERE last_seen >= ?", (since,))}


def os_of(conn: sqlite3.Connection, label: str, mac: str, ip: str) -> dict[str, Any] | None:
    """The latest OS record of a rental PC: by its label, else its MAC, else its address."""
    rows = _rows(conn.execute(
        "SELECT * FROM device_os WHERE rental_label = ? OR (? != '' AND mac = ?) "
        "OR (? != '' AND ip = ?) ORDER BY last_seen DESC LIMIT 1", (label, mac, mac, ip, ip)))
    return rows[0] if rows else None


# -- the baseline (4-3) -------------------------------------------------------------------------


def baseline(conn: sqlite3.Connection) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for ip, port, proto in conn.execute("SELECT ip, port, proto FROM probe_baseline"):
        out.setdefault(ip, []).append({"port": port, "proto": proto})
    return out


def approve(conn: sqlite3.Connection, ip: str, actor: str, now: float) -> int:
    """Approve the ports the last cycle saw open on IP as its baseline (replaces the old one)."""
    rows = conn.execute("SELECT port, proto FROM device_ports WHERE ip = ?", (ip,)).fetchall()
    if not rows:
        raise ValueError(f"no probed ports recorded for {ip}; run `officeguard probe` first")
    conn.execute("DELETE FROM probe_baseline WHERE ip = ?", (ip,))
    conn.executemany("INSERT INTO probe_baseline (ip, port, proto, approved_by, approved_at) "
                     "VALUES (?,?,?,?,?)", [(ip, r[0], r[1], actor, now) for r in rows])
    return len(rows)


# -- advisories ---------------------------------------------------------------------------------


def import_advisories(conn: sqlite3.Connection, advisories: list[Any], now: float) -> int:
    for a in advisories:
        conn.execute(
            "INSERT INTO advisories (id, title, url, published, cvss, severity, products, "
            "imported_at) VALUES (?,?,?,?,?,?,?,?) ON CONFLICT (id) DO UPDATE SET "
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
            for r in _rows(conn.execute("SELECT * FROM advisories"))]


# -- rental PCs registered on the dashboard ----------------------------------------------------


def rental_pcs(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    return _rows(conn.execute("SELECT * FROM rental_pcs ORDER BY label"))


def has_rental_pcs(conn: sqlite3.Connection) -> bool:
    return conn.execute("SELECT 1 FROM rental_pcs LIMIT 1").fetchone() is not None


def add_rental_pc(conn: sqlite3.Connection, e: dict[str, str], by: str, now: float) -> bool:
    """Register a PC; False when its label is already registered."""
    if conn.execute("SELECT 1 FROM rental_pcs WHERE label = ?", (e["label"],)).fetchone():
        return False
    conn.execute("INSERT INTO rental_pcs (label, mac, ip, edition, esu_until, esu_evidence, "
                 "added_by, added_at) VALUES (?,?,?,?,?,?,?,?)",
                 (e["label"], e["mac"], e["ip"], e["edition"], e["esu_until"],
                  e["esu_evidence"], by, now))
    return True


def remove_rental_pc(conn: sqlite3.Connection, pc_id: int) -> str | None:
    """Remove a registered PC; its label, or None when there was none with that id."""
    row = conn.execute("SELECT label FROM rental_pcs WHERE id = ?", (pc_id,)).fetchone()
    if row is None:
        return None
    conn.execute("DELETE FROM rental_pcs WHERE id = ?", (pc_id,))
    return str(row[0])


def last_run(conn: sqlite3.Connection) -> dict[str, Any] | None:
    rows = _rows(conn.execute("SELECT * FROM probe_runs ORDER BY id DESC LIMIT 1"))
    return rows[0] if rows else None


def recent_runs(conn: sqlite3.Connection, limit: int = 20) -> list[dict[str, Any]]:
    return _rows(conn.execute("SELECT * FROM probe_runs ORDER BY id DESC LIMIT ?", (limit,)))


# -- reads of the export, the compliance facts and the devices page ------------------------------


def runs_started_in(conn: sqlite3.Connection, t0: float, t1: float) -> list[dict[str, Any]]:
    """Every column of the cycles started between T0 and T1, oldest first (the export)."""
    return _rows(conn.execute("SELECT * FROM probe_runs WHERE started_at >= ? AND "
                              "started_at < ? ORDER BY id", (t0, t1)))


def runs_that_examined(conn: sqlite3.Connection, since: float) -> list[dict[str, Any]]:
    """finished_at and checks of the cycles finished since SINCE whose checks name what they
    examined, newest first."""
    return _rows(conn.execute("SELECT finished_at, checks FROM probe_runs WHERE finished_at >= ? "
                              "AND checks LIKE '%\"examined\"%' ORDER BY finished_at DESC",
                              (since,)))


def first_finished(conn: sqlite3.Connection) -> float | None:
    """When the first recorded cycle finished (None: no cycle yet)."""
    first: float | None = conn.execute("SELECT MIN(finished_at) FROM probe_runs").fetchone()[0]
    return first


def firmware_statuses(conn: sqlite3.Connection) -> dict[str, str]:
    """IP -> the firmware status of every probed device."""
    return {r[0]: r[1] for r in conn.execute("SELECT ip, firmware_status FROM devices")}


def class_seen_since(conn: sqlite3.Connection, classes: Sequence[str], since: float) -> bool:
    """Whether a device of one of CLASSES was seen since SINCE."""
    marks = ",".join("?" * len(classes))
    seen = conn.execute(f"SELECT 1 FROM devices WHERE class IN ({marks}) "  # noqa: S608
                        "AND last_seen >= ? LIMIT 1", (*classes, since)).fetchone()
    return seen is not None


def device_count(conn: sqlite3.Connection) -> int:
    """How many addresses the devices page lists (seen on the LAN or probed)."""
    return int(conn.execute("SELECT COUNT(*) FROM (SELECT ip FROM stations GROUP BY ip UNION "
                            "SELECT ip FROM devices)").fetchone()[0])


def device_page(conn: sqlite3.Connection, offset: int = 0, limit: int = 50
                ) -> list[dict[str, Any]]:
    """One page of the devices page, by address: what the LAN saw joined with what the probe
    found (ports, approved services, operating system)."""
    return _rows(conn.execute(
        "WITH ips AS (SELECT ip FROM stations UNION SELECT ip FROM devices) "
        "SELECT ips.ip, COALESCE(d.mac, (SELECT mac FROM stations s WHERE s.ip = ips.ip "
        "ORDER BY last_seen DESC LIMIT 1)) AS mac, "
        "COALESCE(NULLIF(d.vendor, ''), (SELECT vendor FROM stations s WHERE s.ip = ips.ip "
        "ORDER BY last_seen DESC LIMIT 1)) AS vendor, d.model, d.firmware, d.class, "
        "d.firmware_status, (SELECT MAX(last_seen) FROM stations s WHERE s.ip = ips.ip) "
        "AS seen, (SELECT group_concat(port || '/' || proto || ' ' || service, ', ') FROM "
        "device_ports p WHERE p.ip = ips.ip) AS ports, (SELECT COUNT(*) FROM probe_baseline b "
        "WHERE b.ip = ips.ip) AS approved, o.name AS os, o.source AS os_source, "
        "o.eol AS os_eol, o.catalog_as_of AS os_catalog FROM ips LEFT JOIN devices d "
        "ON d.ip = ips.ip LEFT JOIN device_os o ON o.ip = ips.ip "
        "ORDER BY ips.ip LIMIT ? OFFSET ?", (limit, offset)))
