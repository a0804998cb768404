"""The typed domain: severity, finding status, check state and the default ports are defined once
(appliance/domain.py); events carry a typed kind and typed detail, stored exactly as before."""

from __future__ import annotations

import ast
import json
import re
import sqlite3
from pathlib import Path

from agent import events as ev
from agent import wifi as w
from agent.lan import LanSettings, LanState
from agent.parsers.arp import ArpSeen
from agent.pipeline import _write_events
from appliance.domain import (
    ACTIVE,
    DEFAULT_PORTS,
    SEVERITIES,
    SEVERITIES_WORST_FIRST,
    SEVERITY_PATTERN,
    SEVERITY_RANK,
    CheckState,
    FindingStatus,
    Severity,
)
from appliance.store import Store
from tests.conftest import ROOT

Z = "00:00:00:00:00:00"
A, B = "02:00:5e:00:53:0a", "02:00:5e:00:53:0b"


def test_one_order_of_severities() -> None:
    assert [s.value for s in SEVERITIES] == ["info", "low", "medium", "high", "critical"]
    assert tuple(reversed(SEVERITIES)) == SEVERITIES_WORST_FIRST
    assert [SEVERITY_RANK[s] for s in SEVERITIES] == [0, 1, 2, 3, 4]
    assert Severity.HIGH.rank > Severity.MEDIUM.rank and Severity("high") is Severity.HIGH
    for s in ("", *SEVERITIES):
        assert re.match(SEVERITY_PATTERN, s)
    for bad in ("severe", "HIGH", "high|low", " high"):
        assert not re.match(SEVERITY_PATTERN, bad)


def test_statuses_and_states_are_the_strings_the_store_holds() -> None:
    assert set(ACTIVE) == {"open", "acknowledged", "reopened"}
    assert FindingStatus.RESOLVED not in ACTIVE
    schema = (ROOT / "appliance" / "schema.py").read_text()
    assert "CHECK (status IN ('open','acknowledged','resolved','reopened'))" in schema
    assert {s.value for s in FindingStatus} == {"open", "acknowledged", "resolved", "reopened"}
    assert json.dumps({CheckState.PASS: [Severity.HIGH, FindingStatus.OPEN]}) == (
        '{"pass": ["high", "open"]}')
    conn = sqlite3.connect(":memory:")
    assert conn.execute("SELECT ?, typeof(?)", (Severity.LOW, Severity.LOW)).fetchone() == (
        "low", "text")


def test_default_ports_are_those_of_the_config_and_the_engine() -> None:
    from agent.probe.engine import Plan
    from agent.probe.scope import Scope
    from appliance.config import from_mapping

    assert from_mapping({}).probe.ports == list(DEFAULT_PORTS)
    assert Plan(Scope()).ports == list(DEFAULT_PORTS)
    assert len(set(DEFAULT_PORTS)) == len(DEFAULT_PORTS)


def test_no_module_defines_the_domain_words_again() -> None:
    """A literal tuple or list of severities, statuses or ports assigned anywhere but
    appliance/domain.py is a copy that will drift."""
    words = {"info", "low", "medium", "high", "critical", "open", "acknowledged", "reopened"}
    copies = []
    for root in ("appliance", "agent", "web"):
        for path in sorted((ROOT / root).rglob("*.py")):
            if path == ROOT / "appliance" / "domain.py":
                continue
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if not isinstance(node, ast.Assign | ast.AnnAssign):
                    continue
                value = node.value
                if not isinstance(value, ast.Tuple | ast.List):
                    continue
                consts = [e.value for e in value.elts if isinstance(e, ast.Constant)]
                if len(consts) >= 3 and set(consts) <= words:
                    copies.append(f"{path.relative_to(ROOT)}:{node.lineno}")
                if len(consts) >= 10 and set(consts) == set(DEFAULT_PORTS):
                    copies.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert copies == []


def test_lan_events_are_typed_and_stored_as_before(tmp_path: Path) -> None:
    s = LanState(LanSettings(networks=(), gateways=frozenset({"192.0.2.1"})))
    out = [e for p in (ArpSeen(10.0, 2, A, "192.0.2.1", Z, "192.0.2.200", A),
                       ArpSeen(20.0, 2, B, "192.0.2.1", Z, "192.0.2.200", B))
           for e in s.observe(p)]
    assert [e.kind for e in out] == [ev.NEW_STATION, ev.CHANGED_ETHERNET_ADDRESS,
                                     ev.ARP_POISONING, ev.GATEWAY_MAC_CHANGED]
    assert all(isinstance(e.kind, ev.LanEventKind) for e in out)
    assert tuple(ev.LanEventKind) == ev.LAN_EVENT_KINDS
    with Store(tmp_path / "og.db") as store:
        store.write(lambda c: _write_events(c, out))
        rows = store.query("SELECT kind, typeof(kind) AS t, sensor, subject, detail "
                           "FROM events ORDER BY id")
    assert [(r["kind"], r["t"], r["sensor"]) for r in rows] == [
        ("new_station", "text", "lan"), ("changed_ethernet_address", "text", "lan"),
        ("arp_poisoning", "text", "lan"), ("gateway_mac_changed", "text", "lan")]
    # byte for byte what the untyped events wrote: ip, mac, old_mac, then the detail's keys
    assert rows[2]["detail"] == json.dumps({
        "ip": "192.0.2.1", "mac": B, "old_mac": A,
        "reason": "address claimed by another MAC within the window",
        "seconds_since_previous_claim": 10.0, "window_s": 3600.0, "macs": sorted({A, B}),
        "op": "reply"}, ensure_ascii=False, sort_keys=False)
    assert rows[3]["subject"] == f"192.0.2.1 {B} (was {A})"
    assert json.loads(rows[3]["detail"]) == {"ip": "192.0.2.1", "mac": B, "old_mac": A,
                                             "gateway": "192.0.2.1"}


def test_wifi_event_kinds_are_typed() -> None:
    assert tuple(ev.WifiEventKind) == w.WIFI_EVENT_KINDS
    assert [k.value for k in w.WIFI_EVENT_KINDS] == [
        "ap_confirmed", "ap_changed", "deauth_flood", "beacon_flood"]
    assert w.AP_CHANGED is ev.WifiEventKind.AP_CHANGED and w.AP_CHANGED == "ap_changed"
