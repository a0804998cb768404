"""SQL of the leakage surveys (3-3): `surveys` (a labelled measurement at one place) and
`survey_samples` (the signal of each facility BSSID heard during it). What a finished survey
means (its findings) is decided in agent/survey.py."""

from __future__ import annotations

import sqlite3
from typing import Any


def _rows(cur: sqlite3.Cursor) -> list[dict[str, Any]]:
    names = [d[0] for d in cur.description]
    return [dict(zip(names, tuple(r), strict=True)) for r in cur]


def start(conn: sqlite3.Connection, label: str, location: str, started_at: float,
          ends_at: float | None, source: str, threshold_dbm: float) -> int:
    row = conn.execute(
        "INSERT INTO surveys (label, location, started_at, ends_at, source, threshold_dbm) "
        "VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
        (label, location, started_at, ends_at, source, threshold_dbm)).fetchone()
    return int(row[0])


def stop_running(conn: sqlite3.Connection, now: float) -> int:
    """Stop every survey still running; returns how many."""
    return int(conn.execute("UPDATE surveys SET stopped_at = ? WHERE stopped_at IS NULL AND "
                            "(ends_at IS NULL OR ends_at > ?)", (now, now)).rowcount)


def stop_one(conn: sqlite3.Connection, survey_id: int, now: float) -> int:
    """Stop one survey if it still runs; returns 1 or 0."""
    return int(conn.execute("UPDATE surveys SET stopped_at = ? WHERE id = ? AND stopped_at IS "
                            "NULL", (now, survey_id)).rowcount)


def mark_stopped(conn: sqlite3.Connection, survey_id: int, now: float) -> None:
    """A walk-test capture's survey ends with its ingest."""
    conn.execute("UPDATE surveys SET stopped_at = ? WHERE id = ?", (now, survey_id))


def active(conn: sqlite3.Connection, now: float) -> list[dict[str, Any]]:
    """Live surveys running at NOW."""
    return _rows(conn.execute(
        "SELECT * FROM surveys WHERE source = 'live' AND stopped_at IS NULL AND started_at <= ? "
        "AND (ends_at IS NULL OR ends_at > ?)", (now, now)))


def write_samples(conn: sqlite3.Connection, rows: list[tuple[Any, ...]]) -> None:
    """(survey_id, bssid, ssid, min, max, sum, n) rows added to what each survey holds."""
    conn.executemany(
        "INSERT INTO survey_samples (survey_id, bssid, ssid, min, max, sum, n) "
        "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (survey_id, bssid) DO UPDATE SET "
        "min = MIN(min, excluded.min), max = MAX(max, excluded.max), "
        "sum = sum + excluded.sum, n = n + excluded.n", rows)


def get(conn: sqlite3.Connection, survey_id: int) -> dict[str, Any] | None:
    rows = _rows(conn.execute("SELECT * FROM surveys WHERE id = ?", (survey_id,)))
    return rows[0] if rows else None


def samples(conn: sqlite3.Connection, survey_id: int) -> list[dict[str, Any]]:
    return _rows(conn.execute("SELECT * FROM survey_samples WHERE survey_id = ? ORDER BY bssid",
                              (survey_id,)))


def every(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    return _rows(conn.execute("SELECT * FROM surveys ORDER BY id"))


def recent(conn: sqlite3.Connection, limit: int = 20) -> list[dict[str, Any]]:
    """The latest surveys, newest first (the Wi-Fi page)."""
    return _rows(conn.execute(
        "SELECT id, label, location, started_at, stopped_at, ends_at FROM surveys "
        "ORDER BY id DESC LIMIT ?", (limit,)))


def started_in(conn: sqlite3.Connection, t0: float, t1: float) -> list[dict[str, Any]]:
    return _rows(conn.execute(
        "SELECT id, label, location, started_at, threshold_dbm FROM surveys WHERE "
        "started_at >= ? AND started_at < ? ORDER BY id", (t0, t1)))


def finished_outside(conn: sqlite3.Connection, since: float, now: float, limit: int = 50
                     ) -> list[dict[str, Any]]:
    """Outside surveys that ended in [since, now) with samples: id, label, at (their end)."""
    return _rows(conn.execute(
        "SELECT s.id, s.label, COALESCE(s.stopped_at, s.ends_at) AS at FROM surveys s "
        "WHERE s.location = 'outside' AND COALESCE(s.stopped_at, s.ends_at) < ? AND "
        "COALESCE(s.stopped_at, s.ends_at) >= ? AND EXISTS (SELECT 1 FROM survey_samples x "
        "WHERE x.survey_id = s.id) ORDER BY at DESC LIMIT ?", (now, since, limit)))
