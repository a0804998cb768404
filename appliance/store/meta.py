"""SQL of the store's own bookkeeping: the `meta` key/value rows (the appliance's id, the agent's
heartbeat document, retention holds) and the names of the applied migrations (`_migrations`).
Values are text (JSON where a document); what they mean stays with their owners."""

from __future__ import annotations

import sqlite3
import uuid

AGENT = "agent"  # the agent's heartbeat document (JSON), written by agent/runner.py
APPLIANCE_ID = "appliance_id"  # this appliance's id, named in every export


def get(conn: sqlite3.Connection, key: str) -> str | None:
    """The value of KEY, or None when it was never written."""
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return str(row[0]) if row else None


def put(conn: sqlite3.Connection, key: str, value: str) -> None:
    """KEY holds VALUE from now on (written or replaced)."""
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?, ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (key, value),
    )


def replace(conn: sqlite3.Connection, key: str, value: str) -> None:
    """An existing KEY holds VALUE from now on (nothing happens when KEY was never written)."""
    conn.execute("UPDATE meta SET value = ? WHERE key = ?", (value, key))


def appliance_id(conn: sqlite3.Connection) -> str:
    """This appliance's id, or "unregistered" before its first export."""
    aid = get(conn, APPLIANCE_ID)
    return aid if aid is not None else "unregistered"


def ensure_appliance_id(conn: sqlite3.Connection) -> str:
    """This appliance's id, made (a random UUID) and kept on first use."""
    aid = get(conn, APPLIANCE_ID)
    if aid is not None:
        return aid
    aid = str(uuid.uuid4())
    conn.execute("INSERT INTO meta (key, value) VALUES (?, ?)", (APPLIANCE_ID, aid))
    return aid


def migrations(conn: sqlite3.Connection) -> list[str]:
    """The names of the migrations applied, in order (read only)."""
    return [str(r[0]) for r in conn.execute("SELECT name FROM _migrations ORDER BY name")]
