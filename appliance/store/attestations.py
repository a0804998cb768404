"""SQL of the attestations and their evidence files: `attestations` (a person's statement
about one check of one measure; never updated, a newer row supersedes) and `evidence` (the files
behind it, stored by content). The rules (what may be attested, for how long, whether a file
still matches its hash) stay in appliance/attestations.py."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import Any


def _rows(cur: sqlite3.Cursor) -> list[dict[str, Any]]:
    names = [d[0] for d in cur.description]
    return [dict(zip(names, tuple(r), strict=True)) for r in cur]


def add(conn: sqlite3.Connection, framework: str, measure: str, check: str, result: str,
        actor: str, note: str, now: float, attested_on: str, valid_days: int,
        evidence: Iterable[tuple[str, str, int]]) -> int:
    """An attestation with its evidence files (name, sha256, size); returns its id."""
    aid = int(conn.execute(
        "INSERT INTO attestations (framework, measure, check_id, result, actor, note, "
        "attested_at, attested_on, valid_days) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        (framework, measure, check, result, actor, note, now, attested_on, valid_days)
    ).fetchone()[0])
    conn.executemany("INSERT INTO evidence (attestation_id, name, sha256, size, added_at) "
                     "VALUES (?, ?, ?, ?, ?)",
                     [(aid, name, digest, size, now) for name, digest, size in evidence])
    return aid


def of_framework(conn: sqlite3.Connection, framework: str, passed_only: bool = False
                 ) -> list[dict[str, Any]]:
    """The framework's attestations, newest first (only those that passed, when asked)."""
    extra = " AND result = 'pass'" if passed_only else ""
    return _rows(conn.execute(
        f"SELECT * FROM attestations WHERE framework = ?{extra} ORDER BY id DESC",  # noqa: S608
        (framework,)))


def every(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """Every attestation, oldest first."""
    return _rows(conn.execute("SELECT * FROM attestations ORDER BY id"))


def evidence_of(conn: sqlite3.Connection, attestation_id: int) -> list[dict[str, Any]]:
    return _rows(conn.execute("SELECT * FROM evidence WHERE attestation_id = ? ORDER BY id",
                              (attestation_id,)))
