"""SQL of the dashboard's accounts: `users`, `sessions` (by the SHA-256 of their token),
`login_failures` and the `audit` log. Policy (password rules, hashing, lockout thresholds, CSRF)
stays in web/security.py, which calls these inside the caller's transaction."""

from __future__ import annotations

import sqlite3
import time
from typing import Any

SETUP = "#setup"  # the login_failures user name of a wrong first-run setup code


def _one(conn: sqlite3.Connection, sql: str, params: tuple[Any, ...]) -> dict[str, Any] | None:
    cur = conn.execute(sql, params)
    row = cur.fetchone()
    if row is None:
        return None
    return dict(zip([d[0] for d in cur.description], tuple(row), strict=True))


# -- users --------------------------------------------------------------------------------------


def has_users(conn: sqlite3.Connection) -> bool:
    return conn.execute("SELECT 1 FROM users LIMIT 1").fetchone() is not None


def add_user(conn: sqlite3.Connection, username: str, password_hash: str, role: str,
             now: float) -> int:
    """Raises sqlite3.IntegrityError when the name is taken."""
    cur = conn.execute("INSERT INTO users (username, password_hash, role, created_at) "
                       "VALUES (?, ?, ?, ?)", (username, password_hash, role, now))
    return int(cur.lastrowid or 0)


def user(conn: sqlite3.Connection, username: str) -> dict[str, Any] | None:
    return _one(conn, "SELECT id, username, password_hash, role, disabled FROM users "
                "WHERE username = ?", (username,))


def users(conn: sqlite3.Connection, now: float | None = None) -> list[dict[str, Any]]:
    """Every account with how many sessions it has open now."""
    cur = conn.execute(
        "SELECT u.id, u.username, u.role, u.created_at, u.disabled, (SELECT COUNT(*) FROM "
        "sessions s WHERE s.user_id = u.id AND s.expires_at > ?) AS sessions FROM users u "
        "ORDER BY u.id", (time.time() if now is None else now,))
    names = [d[0] for d in cur.description]
    return [dict(zip(names, tuple(r), strict=True)) for r in cur]


def enabled_admins(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT COUNT(*) FROM users WHERE role = 'admin' AND disabled = 0"
                            ).fetchone()[0])


def set_password_hash(conn: sqlite3.Connection, user_id: int, password_hash: str) -> None:
    conn.execute("UPDATE users SET password_hash = ? WHERE id = ?", (password_hash, user_id))


def set_disabled(conn: sqlite3.Connection, user_id: int, disabled: bool) -> None:
    conn.execute("UPDATE users SET disabled = ? WHERE id = ?", (int(disabled), user_id))


# -- sessions -----------------------------------------------------------------------------------


def add_session(conn: sqlite3.Connection, token_sha256: str, user_id: int, csrf: str,
                now: float, expires_at: float) -> None:
    conn.execute("INSERT INTO sessions (token_sha256, user_id, csrf, created_at, expires_at, "
                 "last_seen) VALUES (?, ?, ?, ?, ?, ?)",
                 (token_sha256, user_id, csrf, now, expires_at, now))


def session(conn: sqlite3.Connection, token_sha256: str) -> dict[str, Any] | None:
    """The session and its user: token_sha256, csrf, expires_at, id, username, role, disabled."""
    return _one(conn,
                "SELECT s.token_sha256, s.csrf, s.expires_at, u.id, u.username, u.role, "
                "u.disabled FROM sessions s JOIN users u ON u.id = s.user_id "
                "WHERE s.token_sha256 = ?", (token_sha256,))


def end_session(conn: sqlite3.Connection, token_sha256: str) -> None:
    conn.execute("DELETE FROM sessions WHERE token_sha256 = ?", (token_sha256,))


def end_sessions_of(conn: sqlite3.Connection, user_id: int, keep_sha256: str = "") -> int:
    """Every session of the user but KEEP_SHA256 ends; returns how many."""
    return int(conn.execute("DELETE FROM sessions WHERE user_id = ? AND token_sha256 != ?",
                            (user_id, keep_sha256)).rowcount)


def drop_expired_sessions(conn: sqlite3.Connection, now: float) -> None:
    conn.execute("DELETE FROM sessions WHERE expires_at < ?", (now,))


# -- failed logins ------------------------------------------------------------------------------


def failures(conn: sqlite3.Connection, username: str, ip: str, since: float
             ) -> tuple[int, int]:
    """Failures since SINCE: for USERNAME from IP, and for any name from IP."""
    u = conn.execute("SELECT COUNT(*) FROM login_failures WHERE username = ? AND ip = ? "
                     "AND ts >= ?", (username, ip, since)).fetchone()[0]
    i = conn.execute("SELECT COUNT(*) FROM login_failures WHERE ip = ? AND ts >= ?",
                     (ip, since)).fetchone()[0]
    return int(u), int(i)


def add_failure(conn: sqlite3.Connection, username: str, ip: str, now: float) -> None:
    conn.execute("INSERT INTO login_failures (username, ip, ts) VALUES (?, ?, ?)",
                 (username, ip, now))


def clear_failures(conn: sqlite3.Connection, username: str) -> None:
    conn.execute("DELETE FROM login_failures WHERE username = ?", (username,))


# -- audit ----------------------------------------------------------------------------------------


def audit(conn: sqlite3.Connection, actor: str, action: str, detail: str,
          now: float | None = None) -> None:
    conn.execute("INSERT INTO audit (ts, actor, action, detail) VALUES (?, ?, ?, ?)",
                 (time.time() if now is None else now, actor, action, detail[:500]))
