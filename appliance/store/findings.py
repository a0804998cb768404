"""SQL of the findings family: `findings`, `finding_history` and the `outbox` (alerts and notices
waiting for the MQTT publisher). The lifecycle (what a draft does to a finding) stays in
appliance/findings.py; the publisher's routing stays in agent/mqtt.py; the rows are read and
written here, inside the caller's transaction (the store's writer for writes)."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable
from typing import Any

# -- findings ---------------------------------------------------------------------------------


def _dicts(cur: sqlite3.Cursor) -> list[dict[str, Any]]:
    """The rows of CUR as dicts, whatever the connection's row factory."""
    names = [d[0] for d in cur.description]
    return [dict(zip(names, tuple(r), strict=True)) for r in cur]


def by_rule_subject(conn: sqlite3.Connection, rule: str, subject: str) -> sqlite3.Row | None:
    row: sqlite3.Row | None = conn.execute(
        "SELECT id, status, severity, count FROM findings WHERE rule = ? AND subject = ?",
        (rule, subject)).fetchone()
    return row


def insert(conn: sqlite3.Connection, rule: str, measure: str, severity: str, subject: str,
           title_ja: str, title_en: str, ts: float, evidence: str) -> int:
    """A new open finding; returns its id."""
    fid: int = conn.execute(
        "INSERT INTO findings (rule, measure, severity, subject, status, title_ja, "
        "title_en, first_seen, last_seen, count, evidence, updated_at) "
        "VALUES (?, ?, ?, ?, 'open', ?, ?, ?, ?, 1, ?, ?) RETURNING id",
        (rule, measure, severity, subject, title_ja, title_en, ts, ts, evidence, ts),
    ).fetchone()[0]
    return fid


def resolve(conn: sqlite3.Connection, fid: int, ts: float) -> None:
    conn.execute("UPDATE findings SET status = 'resolved', updated_at = ? WHERE id = ?",
                 (ts, fid))


def seen_again(conn: sqlite3.Connection, fid: int, status: str, severity: str, ts: float,
               evidence: str) -> None:
    """The rule fired again: count it, keep the latest evidence, maybe reopen or escalate."""
    conn.execute(
        "UPDATE findings SET status = ?, severity = ?, last_seen = MAX(last_seen, ?), "
        "count = count + 1, evidence = ?, updated_at = ? WHERE id = ?",
        (status, severity, ts, evidence, ts, fid))


def severity_of(conn: sqlite3.Connection, fid: int) -> str | None:
    row = conn.execute("SELECT severity FROM findings WHERE id = ?", (fid,)).fetchone()
    return None if row is None else str(row[0])


def set_status(conn: sqlite3.Connection, fid: int, status: str, ts: float) -> None:
    conn.execute("UPDATE findings SET status = ?, updated_at = ? WHERE id = ?",
                 (status, ts, fid))


def listing(conn: sqlite3.Connection, status: str | None = None) -> list[dict[str, Any]]:
    """Every finding (or those of one status), newest first (`officeguard findings`)."""
    sql = "SELECT * FROM findings"
    params: tuple[Any, ...] = ()
    if status:
        sql += " WHERE status = ?"
        params = (status,)
    cur = conn.execute(sql + " ORDER BY last_seen DESC", params)
    return _dicts(cur)


def of_subject(conn: sqlite3.Connection, rule: str, subject: str, statuses: Iterable[str]
               ) -> list[dict[str, Any]]:
    """Findings of RULE about exactly SUBJECT, in one of STATUSES."""
    st = list(statuses)
    marks = ",".join("?" * len(st))
    cur = conn.execute(
        f"SELECT id, severity, title_ja, title_en FROM findings WHERE rule = ? "  # noqa: S608
        f"AND subject = ? AND status IN ({marks})", (rule, subject, *st))
    return _dicts(cur)


def with_prefix(conn: sqlite3.Connection, rule: str, prefix: str, statuses: Iterable[str]
                ) -> list[dict[str, Any]]:
    """Findings of RULE whose subject starts with PREFIX, in one of STATUSES."""
    st = list(statuses)
    marks = ",".join("?" * len(st))
    cur = conn.execute(
        f"SELECT id, rule, measure, severity, subject, title_ja, title_en, status FROM findings "  # noqa: S608
        f"WHERE rule = ? AND substr(subject, 1, ?) = ? AND status IN ({marks})",
        (rule, len(prefix), prefix, *st))
    return _dicts(cur)


def total(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT COUNT(*) FROM findings").fetchone()[0])


def active_by_severity(conn: sqlite3.Connection, statuses: Iterable[str]) -> dict[str, int]:
    """severity -> how many findings are in one of STATUSES."""
    st = list(statuses)
    marks = ",".join("?" * len(st))
    return {str(sev): int(n) for sev, n in conn.execute(
        f"SELECT severity, COUNT(*) FROM findings WHERE status IN ({marks}) "  # noqa: S608
        "GROUP BY severity", st)}


# -- history ----------------------------------------------------------------------------------


def add_history(conn: sqlite3.Connection, fid: int, ts: float, change: str, status: str,
                severity: str, actor: str = "agent", note: str = "") -> None:
    """One row per state change; `recorded_at` is now (ts is when it happened)."""
    conn.execute(
        "INSERT INTO finding_history (finding_id, ts, change, status, severity, actor, note, "
        "recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (fid, ts, change, status, severity, actor, note, time.time()))


# -- outbox -----------------------------------------------------------------------------------


def enqueue(conn: sqlite3.Connection, alert_id: str, created_at: float, topic: str,
            payload: str) -> None:
    """An alert or notice for the MQTT publisher, in the caller's transaction (so it cannot be
    lost between the database and the broker). `topic` is one of appliance.topics."""
    conn.execute("INSERT INTO outbox (alert_id, created_at, topic, payload) VALUES (?, ?, ?, ?)",
                 (alert_id, created_at, topic, payload))


def queued(conn: sqlite3.Connection, alert_id: str) -> bool:
    """Whether an outbox row with this id exists (sent or not)."""
    return conn.execute("SELECT 1 FROM outbox WHERE alert_id = ?", (alert_id,)
                        ).fetchone() is not None


def to_publish(conn: sqlite3.Connection, after_id: int, limit: int) -> list[dict[str, Any]]:
    """Unsent rows past the publisher's cursor that are not held for the digest."""
    cur = conn.execute(
        "SELECT id, topic, payload, route FROM outbox WHERE sent_at IS NULL AND id > ? "
        "AND (route IS NULL OR route IN ('alert', 'later')) ORDER BY id LIMIT ?",
        (after_id, limit))
    return [{"id": r[0], "topic": r[1], "payload": r[2], "route": r[3]} for r in cur]


def first_unrouted_upto(conn: sqlite3.Connection, upto_id: int) -> int | None:
    """The oldest unsent, not yet routed row at or before the cursor (held in quiet hours)."""
    row = conn.execute("SELECT MIN(id) FROM outbox WHERE sent_at IS NULL AND id <= ? "
                       "AND route IS NULL", (upto_id,)).fetchone()
    return None if row is None or row[0] is None else int(row[0])


def route_to_digest(conn: sqlite3.Connection, ids: Iterable[int]) -> None:
    conn.executemany("UPDATE outbox SET route = 'digest' WHERE id = ?", [(i,) for i in ids])


def mark_sent(conn: sqlite3.Connection, ids: Iterable[int], now: float) -> None:
    """The broker acknowledged these rows (published alone unless routed to the digest)."""
    conn.executemany(
        "UPDATE outbox SET sent_at = ?, route = COALESCE(route, 'alert') WHERE id = ?",
        [(now, i) for i in ids])


def digest_items(conn: sqlite3.Connection, limit: int = 500) -> list[dict[str, Any]]:
    cur = conn.execute("SELECT id, payload FROM outbox WHERE sent_at IS NULL AND "
                       "route = 'digest' ORDER BY id LIMIT ?", (limit,))
    return [{"id": r[0], "payload": r[1]} for r in cur]


def unsent_count(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL").fetchone()[0])


# -- reads of the history -----------------------------------------------------------------------


def _rows(cur: sqlite3.Cursor) -> list[dict[str, Any]]:
    return _dicts(cur)


def history(conn: sqlite3.Connection, fid: int) -> list[dict[str, Any]]:
    """A finding's changes, oldest first (the finding page, the export)."""
    return _rows(conn.execute(
        "SELECT ts, change, status, severity, actor, note FROM finding_history "
        "WHERE finding_id = ? ORDER BY ts, id", (fid,)))


def changes_since(conn: sqlite3.Connection, since: float, limit: int = 20
                  ) -> list[dict[str, Any]]:
    """What changed, newest first, by when it was recorded: a capture of last week ingested an
    hour ago is news today."""
    return _rows(conn.execute(
        "SELECT h.ts, h.recorded_at, h.change, h.severity, h.actor, f.id, f.rule, f.measure, "
        "f.subject, f.title_ja, f.title_en FROM finding_history h "
        "JOIN findings f ON f.id = h.finding_id "
        "WHERE h.recorded_at >= ? AND h.change IN ('new', 'reopened', 'resolved', 'escalated', "
        "'acknowledged') ORDER BY h.recorded_at DESC LIMIT ?", (since, limit)))


def open_moves_since(conn: sqlite3.Connection, start: float) -> list[tuple[float, str]]:
    """(recorded_at, change) of every opening and closing since START, newest first."""
    return [(float(r[0]), str(r[1])) for r in conn.execute(
        "SELECT recorded_at, change FROM finding_history WHERE recorded_at >= ? AND change "
        "IN ('new', 'reopened', 'resolved') ORDER BY recorded_at DESC", (start,))]


def openings(conn: sqlite3.Connection, t0: float, t1: float) -> list[tuple[float, str]]:
    """(ts, severity) of each finding opened or reopened in [t0, t1)."""
    return [(float(r[0]), str(r[1])) for r in conn.execute(
        "SELECT h.ts, h.severity FROM finding_history h WHERE h.change IN ('new', "
        "'reopened') AND h.ts >= ? AND h.ts < ?", (t0, t1))]


def in_period(conn: sqlite3.Connection, t0: float, t1: float) -> list[dict[str, Any]]:
    """Findings seen in [t0, t1) or still active, by measure (the export)."""
    return _rows(conn.execute(
        "SELECT * FROM findings WHERE first_seen < ? AND (last_seen >= ? OR status IN "
        "('open','acknowledged','reopened')) ORDER BY measure, id", (t1, t0)))


# -- test alerts (1-3: the contact chain works) -------------------------------------------------


def add_alert_test(conn: sqlite3.Connection, alert_id: str, requested_at: float,
                   requested_by: str, broker: str) -> None:
    conn.execute("INSERT INTO alert_tests (alert_id, requested_at, requested_by, broker) "
                 "VALUES (?, ?, ?, ?)", (alert_id, requested_at, requested_by, broker))


def alert_test_done(conn: sqlite3.Connection, alert_id: str, delivered_at: float | None,
                    error: str | None) -> None:
    conn.execute("UPDATE alert_tests SET delivered_at = ?, error = ? WHERE alert_id = ?",
                 (delivered_at, error, alert_id))


def alert_tests(conn: sqlite3.Connection, since: float | None = None, until: float | None = None,
                limit: int = 10) -> list[dict[str, Any]]:
    """Test alerts: the latest LIMIT, newest first; or those requested in [since, until),
    oldest first."""
    cols = "alert_id, requested_at, requested_by, delivered_at, error"
    if since is not None and until is not None:
        return _rows(conn.execute(
            f"SELECT {cols} FROM alert_tests WHERE requested_at >= ? AND "  # noqa: S608
            "requested_at < ? ORDER BY requested_at, rowid", (since, until)))
    return _rows(conn.execute(
        f"SELECT {cols} FROM alert_tests ORDER BY requested_at DESC LIMIT ?",  # noqa: S608
        (limit,)))


# -- the dashboard's reads ----------------------------------------------------------------------

_ACTIVE_SQL = "status IN ('open', 'acknowledged', 'reopened')"


def _filters(status: str, measure: str, q: str) -> tuple[str, list[Any]]:
    """WHERE clause and parameters of the findings page's filter (status 'active': every
    active status; Q: a LIKE on subject, titles and rule, escaped)."""
    where: list[str] = []
    params: list[Any] = []
    if status == "active":
        where.append(_ACTIVE_SQL)
    elif status:
        where.append("status = ?")
        params.append(status)
    if measure:
        where.append("measure = ?")
        params.append(measure)
    if q:
        where.append("(subject LIKE ? ESCAPE '\\' OR title_ja LIKE ? ESCAPE '\\' OR "
                     "title_en LIKE ? ESCAPE '\\' OR rule LIKE ? ESCAPE '\\')")
        like = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        params += [like] * 4
    return " AND ".join(where) or "1", params


def counts_by_severity(conn: sqlite3.Connection, status: str = "", measure: str = "",
                       q: str = "") -> dict[str, int]:
    """Findings per severity under the findings page's filter."""
    sql_where, params = _filters(status, measure, q)
    return {str(r[0]): int(r[1]) for r in conn.execute(
        f"SELECT severity, COUNT(*) FROM findings WHERE {sql_where} GROUP BY severity",  # noqa: S608
        params)}


def page_of_severity(conn: sqlite3.Connection, severity: str, status: str, measure: str,
                     q: str, limit: int, offset: int) -> list[dict[str, Any]]:
    """Part of a findings page: one severity, newest first, along the (severity, last_seen)
    index, so a page never sorts the whole table."""
    sql_where, params = _filters(status, measure, q)
    return _rows(conn.execute(
        "SELECT id, rule, measure, severity, subject, status, title_ja, title_en, "  # noqa: S608
        f"first_seen, last_seen, count FROM findings INDEXED BY findings_sev_seen "
        f"WHERE severity = ? AND {sql_where} ORDER BY last_seen DESC, id DESC "
        "LIMIT ? OFFSET ?", (severity, *params, limit, offset)))


def get(conn: sqlite3.Connection, fid: int) -> dict[str, Any] | None:
    rows = _rows(conn.execute("SELECT * FROM findings WHERE id = ?", (fid,)))
    return rows[0] if rows else None


def active_of_rules(conn: sqlite3.Connection, rule_prefix: str, limit: int = 100
                    ) -> list[dict[str, Any]]:
    """Active findings whose rule starts with RULE_PREFIX (e.g. 'wifi.'), newest first."""
    like = rule_prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    return _rows(conn.execute(
        "SELECT id, rule, severity, subject, title_ja, title_en, status FROM findings WHERE "
        "rule LIKE ? ESCAPE '\\' AND status IN ('open', 'acknowledged', 'reopened') "
        "ORDER BY last_seen DESC LIMIT ?", (like, limit)))


def urgent(conn: sqlite3.Connection, limit: int) -> list[dict[str, Any]]:
    """Active critical and high findings, critical first, newest first."""
    return _rows(conn.execute(
        "SELECT id, rule, measure, severity, subject, title_ja, title_en FROM findings "
        "WHERE status IN ('open', 'acknowledged', 'reopened') AND severity IN "
        "('critical', 'high') ORDER BY severity = 'critical' DESC, last_seen DESC LIMIT ?",
        (limit,)))


def in_statuses(conn: sqlite3.Connection, statuses: Iterable[str],
                per_group: int | None = None) -> list[dict[str, Any]]:
    """Findings in one of STATUSES, by id; with PER_GROUP, only the newest PER_GROUP of each
    (rule, measure, severity) (a thousand look-alike findings weigh like a few)."""
    st = tuple(statuses)
    marks = ",".join("?" for _ in st)
    if per_group is None:
        return _rows(conn.execute(
            f"SELECT * FROM findings WHERE status IN ({marks}) ORDER BY id", st))  # noqa: S608
    return _rows(conn.execute(
        "SELECT * FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY rule, measure, "  # noqa: S608
        f"severity ORDER BY last_seen DESC, id DESC) AS rn FROM findings WHERE status "
        f"IN ({marks})) WHERE rn <= ? ORDER BY id", (*st, per_group)))


def by_key(conn: sqlite3.Connection, rule: str, subject: str) -> dict[str, Any] | None:
    """The whole finding of RULE about SUBJECT."""
    rows = _rows(conn.execute("SELECT * FROM findings WHERE rule = ? AND subject = ?",
                              (rule, subject)))
    return rows[0] if rows else None
