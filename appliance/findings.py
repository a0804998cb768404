"""Findings and their lifecycle: open → acknowledged → resolved, reopened when they come back.

Rules produce `FindingDraft`s; `apply_drafts` turns them into rows inside the writer's transaction,
with one history row per state change and one outbox row per alert-worthy change (new, escalated,
reopened, resolved), so an alert can never be lost between the database and the broker.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from dataclasses import dataclass, field
from typing import Any

from appliance import topics
from appliance.domain import ACTIVE, SEVERITY_RANK
from appliance.store import findings as q
from appliance.timeutil import iso


@dataclass(frozen=True, slots=True)
class FindingDraft:
    rule: str
    measure: str
    severity: str
    subject: str
    title_ja: str
    title_en: str
    ts: float
    evidence: dict[str, Any] = field(default_factory=dict)
    message_ja: str = ""
    message_en: str = ""
    clear: bool = False  # the condition has ended: resolve the finding if it is active

    def __post_init__(self) -> None:
        if self.severity not in SEVERITY_RANK:
            raise ValueError(f"unknown severity {self.severity!r}")


@dataclass(frozen=True, slots=True)
class FindingChange:
    finding_id: int
    rule: str
    subject: str
    change: str  # new | updated | escalated | reopened | resolved


def _alert(conn: sqlite3.Connection, change: str, row: dict[str, Any], d: FindingDraft) -> None:
    alert_id = str(uuid.uuid4())
    payload = {
        "alert_id": alert_id,
        "change": change,
        "time": iso(d.ts),
        "finding_id": row["id"],
        "rule": d.rule,
        "measure": d.measure,
        "severity": row["severity"],
        "subject": d.subject,
        "title_ja": d.title_ja,
        "title_en": d.title_en,
        "message_ja": d.message_ja or d.title_ja,
        "message_en": d.message_en or d.title_en,
    }
    q.enqueue(conn, alert_id, d.ts, topics.alerts(row["severity"]),
              json.dumps(payload, ensure_ascii=False))


def _history(
    conn: sqlite3.Connection, fid: int, ts: float, change: str, status: str, severity: str,
    actor: str = "agent", note: str = "",
) -> None:
    q.add_history(conn, fid, ts, change, status, severity, actor, note)


def apply_drafts(conn: sqlite3.Connection, drafts: list[FindingDraft]) -> list[FindingChange]:
    """Apply drafts inside the caller's transaction (the store's writer)."""
    changes: list[FindingChange] = []
    for d in drafts:
        cur = q.by_rule_subject(conn, d.rule, d.subject)
        ev = json.dumps(d.evidence, ensure_ascii=False, default=str)
        if cur is None:
            if d.clear:
                continue
            fid = q.insert(conn, d.rule, d.measure, d.severity, d.subject, d.title_ja,
                           d.title_en, d.ts, ev)
            _history(conn, fid, d.ts, "new", "open", d.severity)
            _alert(conn, "new", {"id": fid, "severity": d.severity}, d)
            changes.append(FindingChange(fid, d.rule, d.subject, "new"))
            continue
        fid, status, severity = cur["id"], cur["status"], cur["severity"]
        if d.clear:
            if status in ACTIVE:
                q.resolve(conn, fid, d.ts)
                _history(conn, fid, d.ts, "resolved", "resolved", severity)
                _alert(conn, "resolved", {"id": fid, "severity": severity}, d)
                changes.append(FindingChange(fid, d.rule, d.subject, "resolved"))
            continue
        new_sev = severity
        change = "updated"
        new_status = status
        if status == "resolved":
            new_status, change = "reopened", "reopened"
            new_sev = d.severity
        if SEVERITY_RANK[d.severity] > SEVERITY_RANK[severity]:
            new_sev = d.severity
            if change == "updated":
                change = "escalated"
        q.seen_again(conn, fid, new_status, new_sev, d.ts, ev)
        if change != "updated":
            _history(conn, fid, d.ts, change, new_status, new_sev)
            _alert(conn, change, {"id": fid, "severity": new_sev}, d)
        changes.append(FindingChange(fid, d.rule, d.subject, change))
    return changes


def set_status(
    conn: sqlite3.Connection, finding_id: int, status: str, ts: float, actor: str, note: str = ""
) -> None:
    """A person acknowledges or resolves a finding (dashboard, CLI)."""
    if status not in ("acknowledged", "resolved"):
        raise ValueError(f"cannot set status {status!r} by hand")
    severity = q.severity_of(conn, finding_id)
    if severity is None:
        raise KeyError(finding_id)
    q.set_status(conn, finding_id, status, ts)
    _history(conn, finding_id, ts, status, status, severity, actor, note)


def finding_to_json(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "rule": row["rule"],
        "measure": row["measure"],
        "severity": row["severity"],
        "subject": row["subject"],
        "status": row["status"],
        "title_ja": row["title_ja"],
        "title_en": row["title_en"],
        "first_seen": iso(row["first_seen"]),
        "last_seen": iso(row["last_seen"]),
        "count": row["count"],
        "evidence": json.loads(row["evidence"]),
    }
