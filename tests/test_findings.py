from __future__ import annotations

import json

from appliance.findings import FindingDraft, apply_drafts, set_status
from appliance.store import Store


def d(ts: float, severity: str = "high", clear: bool = False) -> FindingDraft:
    return FindingDraft(rule="lan.arp_poisoning", measure="3-8", severity=severity,
                        subject="192.0.2.1", title_ja="ARP", title_en="ARP", ts=ts,
                        evidence={"n": ts}, clear=clear)


def test_lifecycle_table(fresh_store: Store) -> None:
    steps = [
        (d(1.0, "medium"), "new", "open", "medium"),
        (d(2.0, "medium"), "updated", "open", "medium"),
        (d(3.0, "high"), "escalated", "open", "high"),
        (d(4.0, clear=True), "resolved", "resolved", "high"),
        (d(5.0, "high"), "reopened", "reopened", "high"),
    ]
    for draft, change, status, sev in steps:
        changes = fresh_store.write(lambda c, dr=draft: apply_drafts(c, [dr]))
        assert [x.change for x in changes] == [change]
        row = fresh_store.query("SELECT * FROM findings")[0]
        assert (row["status"], row["severity"]) == (status, sev)
    row = fresh_store.query("SELECT * FROM findings")[0]
    assert row["count"] == 4 and row["first_seen"] == 1.0 and row["last_seen"] == 5.0
    assert json.loads(row["evidence"]) == {"n": 5.0}
    hist = [r["change"]
            for r in fresh_store.query("SELECT change FROM finding_history ORDER BY id")]
    assert hist == ["new", "escalated", "resolved", "reopened"]
    alerts = [json.loads(r["payload"])["change"]
              for r in fresh_store.query("SELECT payload FROM outbox ORDER BY id")]
    assert alerts == ["new", "escalated", "resolved", "reopened"]


def test_clear_without_finding_does_nothing(fresh_store: Store) -> None:
    assert fresh_store.write(lambda c: apply_drafts(c, [d(1.0, clear=True)])) == []
    assert fresh_store.query("SELECT COUNT(*) AS n FROM findings")[0]["n"] == 0


def test_acknowledge_by_a_person(fresh_store: Store) -> None:
    fresh_store.write(lambda c: apply_drafts(c, [d(1.0)]))
    fid = fresh_store.query("SELECT id FROM findings")[0]["id"]
    fresh_store.write(lambda c: set_status(c, fid, "acknowledged", 2.0, "manager", "known"))
    fresh_store.write(lambda c: apply_drafts(c, [d(3.0)]))
    row = fresh_store.query("SELECT status FROM findings")[0]
    assert row["status"] == "acknowledged"  # seeing it again does not undo the acknowledgement
    last = fresh_store.query("SELECT * FROM finding_history WHERE change='acknowledged'")[0]
    assert last["actor"] == "manager" and last["note"] == "known"
