"""Retention: raw observations expire by age and by the database's size; findings stay."""

from __future__ import annotations

import sqlite3


def prune(conn: sqlite3.Connection, now: float, retention_days: int) -> dict[str, int]:
    """Retention for raw observations; findings and their history are evidence and stay."""
    cutoff = now - retention_days * 86400
    out = {}
    out["events"] = conn.execute("DELETE FROM events WHERE last_ts < ?", (cutoff,)).rowcount
    out["stations"] = conn.execute("DELETE FROM stations WHERE last_seen < ?", (cutoff,)).rowcount
    out["rssi_minutes"] = conn.execute(
        "DELETE FROM rssi_minutes WHERE minute < ?", (int(cutoff // 60),)).rowcount
    out["access_points"] = conn.execute(
        "DELETE FROM access_points WHERE last_seen < ?", (cutoff,)).rowcount
    out["outbox"] = conn.execute(
        "DELETE FROM outbox WHERE sent_at IS NOT NULL AND sent_at < ?", (cutoff,)).rowcount
    return out


def used_bytes(conn: sqlite3.Connection) -> int:
    page = conn.execute("PRAGMA page_size").fetchone()[0]
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    free = conn.execute("PRAGMA freelist_count").fetchone()[0]
    return int((pages - free) * page)


def prune_to_size(conn: sqlite3.Connection, max_bytes: int) -> int:
    """Keep the database's live pages under max_bytes by dropping the oldest raw observations
    (events, per-minute signal, sent alerts) a tenth at a time; findings stay. Freed pages are
    reused, so the file stops growing. Returns the rows deleted."""
    deleted = 0
    for _ in range(20):
        if used_bytes(conn) <= max_bytes:
            break
        n = 0
        for table, order in (("events", "last_ts"), ("rssi_minutes", "minute"),
                             ("outbox", "sent_at")):
            where = "WHERE sent_at IS NOT NULL" if table == "outbox" else ""
            count = conn.execute(f"SELECT COUNT(*) FROM {table} {where}").fetchone()[0]  # noqa: S608
            if count:
                n += conn.execute(
                    f"DELETE FROM {table} WHERE rowid IN (SELECT rowid FROM {table} {where} "  # noqa: S608
                    f"ORDER BY {order} LIMIT ?)", (max(1, count // 10),)).rowcount
        if not n:
            break
        deleted += n
    return deleted
