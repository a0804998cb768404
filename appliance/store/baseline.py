"""The probe baseline (4-③): the services the manager approved on a device. Written by the
dashboard and the command line; read by the agent's probe cycles, which raise
probe.unapproved_service for anything open beyond it."""

from __future__ import annotations

import sqlite3


def approve(conn: sqlite3.Connection, ip: str, actor: str, now: float) -> int:
    """Approve the ports the last cycle saw open on IP as its baseline (replaces the old one)."""
    rows = conn.execute("SELECT port, proto FROM device_ports WHERE ip = ?", (ip,)).fetchall()
    if not rows:
        raise ValueError(f"no probed ports recorded for {ip}; run `officeguard probe` first")
    conn.execute("DELETE FROM probe_baseline WHERE ip = ?", (ip,))
    conn.executemany("INSERT INTO probe_baseline VALUES (?,?,?,?,?)",
                     [(ip, r["port"], r["proto"], actor, now) for r in rows])
    return len(rows)
