"""Retention: raw observations expire by age and by the database's size; findings stay.

Age is counted from when a row was recorded, not from the capture's clock: a capture of last
year fed through `officeguard ingest` today is kept for `retention_days` from today. Live rows
are recorded as they are captured, so for them the capture time is the record time; an ingest
of older frames leaves a *hold* (the capture-time range and when it was recorded) in meta, and
pruning spares rows inside a hold until the hold itself is older than the window.

The agent runs it (agent/retention.py names the same functions); the statements are here, with
the rest of the store's SQL.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from appliance.store import meta

HOLDS_KEY = "retention_holds"


def holds(conn: sqlite3.Connection) -> list[dict[str, float]]:
    raw = meta.get(conn, HOLDS_KEY)
    try:
        doc = json.loads(raw) if raw is not None else []
    except ValueError:
        return []
    return [h for h in doc if isinstance(h, dict) and {"first", "last", "recorded_at"} <= set(h)]


def add_hold(conn: sqlite3.Connection, first: float, last: float, recorded_at: float) -> None:
    """Keep what an ingest of frames from FIRST..LAST (capture time) wrote, counted from
    RECORDED_AT; overlapping holds merge, so the list stays short."""
    hs = sorted([*holds(conn), {"first": first, "last": last, "recorded_at": recorded_at}],
                key=lambda h: h["first"])
    merged: list[dict[str, float]] = []
    for h in hs:
        if merged and h["first"] <= merged[-1]["last"] + 86400:
            m = merged[-1]
            m["last"] = max(m["last"], h["last"])
            m["recorded_at"] = max(m["recorded_at"], h["recorded_at"])
        else:
            merged.append(dict(h))
    meta.put(conn, HOLDS_KEY, json.dumps(merged))


def prune(conn: sqlite3.Connection, now: float, retention_days: int) -> dict[str, int]:
    """Retention for raw observations; findings and their history are evidence and stay."""
    cutoff = now - retention_days * 86400
    live = [h for h in holds(conn) if h["recorded_at"] >= cutoff]
    if len(live) != len(holds(conn)):
        meta.replace(conn, HOLDS_KEY, json.dumps(live))

    def spare(col: str, scale: float = 1.0) -> tuple[str, list[Any]]:
        sql = "".join(f" AND NOT ({col} BETWEEN ? AND ?)" for _ in live)
        params: list[Any] = [x for h in live for x in (h["first"] / scale, h["last"] / scale)]
        return sql, params

    out = {}
    for table, col, scale, extra in (("events", "last_ts", 1.0, ""),
                                     ("stations", "last_seen", 1.0, ""),
                                     ("rssi_minutes", "minute", 60.0, ""),
                                     ("access_points", "last_seen", 1.0, ""),
                                     ("outbox", "sent_at", 1.0, "sent_at IS NOT NULL AND ")):
        # a sent alert's time is when it was sent: holds are about capture times
        sql, params = spare(col, scale) if table != "outbox" else ("", [])
        limit = int(cutoff // 60) if table == "rssi_minutes" else cutoff
        out[table] = conn.execute(
            f"DELETE FROM {table} WHERE {extra}{col} < ?{sql}",  # noqa: S608
            (limit, *params)).rowcount
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
