"""The `commands` table: what the dashboard asked the agent to do, and what came of it.

The web process only calls `request`; the agent alone calls `claim_next` and `finish`, on its
own schedule and with its own capabilities. A request of a kind already pending or running is
not queued twice (the caller gets the existing id), so two clicks give one probe cycle.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class CommandKind(StrEnum):
    PROBE_NOW = "probe_now"
    TEST_ALERT = "test_alert"
    SURVEY_START = "survey_start"
    SURVEY_STOP = "survey_stop"
    RUN_EXPORT = "run_export"


class CommandState(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Command:
    id: int
    kind: CommandKind
    args: dict[str, Any]
    requested_by: str
    requested_at: float
    state: CommandState
    started_at: float | None
    finished_at: float | None
    outcome: dict[str, Any]


def _row(r: sqlite3.Row) -> Command:
    return Command(id=r["id"], kind=CommandKind(r["kind"]), args=json.loads(r["args"]),
                   requested_by=r["requested_by"], requested_at=r["requested_at"],
                   state=CommandState(r["state"]), started_at=r["started_at"],
                   finished_at=r["finished_at"], outcome=json.loads(r["outcome"]))


def request(c: sqlite3.Connection, kind: CommandKind, args: dict[str, Any], by: str,
            now: float) -> tuple[int, bool]:
    """Queue KIND unless one is already open; returns (id, newly queued)."""
    kind = CommandKind(kind)
    open_row = c.execute(
        "SELECT id FROM commands WHERE kind = ? AND state IN ('pending', 'running') "
        "ORDER BY id LIMIT 1", (kind.value,)).fetchone()
    if open_row is not None:
        return int(open_row[0]), False
    cur = c.execute(
        "INSERT INTO commands (kind, args, requested_by, requested_at) VALUES (?, ?, ?, ?)",
        (kind.value, json.dumps(args, sort_keys=True), by, now))
    return int(cur.lastrowid or 0), True


def claim_next(c: sqlite3.Connection, now: float,
               kinds: tuple[CommandKind, ...] | None = None) -> Command | None:
    """The oldest pending command (of KINDS), marked running. Agent only."""
    sql = "SELECT * FROM commands WHERE state = 'pending'"
    params: list[Any] = []
    if kinds:
        sql += " AND kind IN (" + ",".join("?" * len(kinds)) + ")"
        params += [k.value for k in kinds]
    r = c.execute(sql + " ORDER BY id LIMIT 1", params).fetchone()
    if r is None:
        return None
    c.execute("UPDATE commands SET state = 'running', started_at = ? WHERE id = ?", (now, r["id"]))
    return get(c, int(r["id"]))


def finish(c: sqlite3.Connection, cid: int, ok: bool, outcome: dict[str, Any],
           now: float) -> None:
    c.execute("UPDATE commands SET state = ?, finished_at = ?, outcome = ? WHERE id = ?",
              (CommandState.DONE.value if ok else CommandState.FAILED.value, now,
               json.dumps(outcome, sort_keys=True, default=str), cid))


def abandon_running(c: sqlite3.Connection, now: float) -> int:
    """At agent start: a command left running by a stopped agent failed (nothing is lost)."""
    cur = c.execute(
        "UPDATE commands SET state = 'failed', finished_at = ?, "
        "outcome = '{\"error\": \"the agent stopped while running it\"}' "
        "WHERE state = 'running'", (now,))
    return cur.rowcount


def get(c: sqlite3.Connection, cid: int) -> Command | None:
    r = c.execute("SELECT * FROM commands WHERE id = ?", (cid,)).fetchone()
    return None if r is None else _row(r)


def recent(c: sqlite3.Connection, limit: int = 20,
           kind: CommandKind | None = None) -> list[Command]:
    if kind is None:
        rows = c.execute("SELECT * FROM commands ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
    else:
        rows = c.execute("SELECT * FROM commands WHERE kind = ? ORDER BY id DESC LIMIT ?",
                         (CommandKind(kind).value, limit)).fetchall()
    return [_row(r) for r in rows]


def is_open(c: sqlite3.Connection, kind: CommandKind) -> bool:
    return c.execute(
        "SELECT 1 FROM commands WHERE kind = ? AND state IN ('pending', 'running')",
        (CommandKind(kind).value,)).fetchone() is not None
