"""SQL of the `exports` table: the signed inspector exports written (one folder each). Writing
the folder and removing old ones from disk is appliance/export.py's; the rows are here."""

from __future__ import annotations

import sqlite3
from typing import Any


def _rows(cur: sqlite3.Cursor) -> list[dict[str, Any]]:
    names = [d[0] for d in cur.description]
    return [dict(zip(names, tuple(r), strict=True)) for r in cur]


def add(conn: sqlite3.Connection, period: str, period_start: float, period_end: float,
        path: str, created_at: float, manifest_sha256: str) -> int:
    cur = conn.execute("INSERT INTO exports (period, period_start, period_end, path, "
                       "created_at, manifest_sha256) VALUES (?, ?, ?, ?, ?, ?)",
                       (period, period_start, period_end, path, created_at, manifest_sha256))
    return int(cur.lastrowid or 0)


def kept(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """Exports whose folder is still there (id, path), newest first."""
    return _rows(conn.execute("SELECT id, path FROM exports WHERE removed_at IS NULL "
                              "ORDER BY created_at DESC, id DESC"))


def mark_removed(conn: sqlite3.Connection, export_id: int, now: float) -> None:
    conn.execute("UPDATE exports SET removed_at = ? WHERE id = ?", (now, export_id))


def has_period(conn: sqlite3.Connection, period: str) -> bool:
    """Whether an export of PERIOD (YYYY-MM) was ever written."""
    return conn.execute("SELECT 1 FROM exports WHERE period = ? LIMIT 1", (period,)
                        ).fetchone() is not None


def downloadable(conn: sqlite3.Connection, export_id: int) -> dict[str, Any] | None:
    """path and period of an export whose folder was not removed."""
    rows = _rows(conn.execute("SELECT path, period FROM exports WHERE id = ? AND "
                              "removed_at IS NULL", (export_id,)))
    return rows[0] if rows else None


def recent(conn: sqlite3.Connection, limit: int = 50) -> list[dict[str, Any]]:
    return _rows(conn.execute(
        "SELECT id, period, path, created_at, manifest_sha256 FROM exports "
        "WHERE removed_at IS NULL ORDER BY id DESC LIMIT ?", (limit,)))
