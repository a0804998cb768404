"""`officeguard ingest` on real and generated captures, checked against tshark."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from agent.capture import write_pcap
from tests import arpgen
from tests.conftest import OFFICEGUARD, PCAPS, pcap, tshark_fields

CAPTURES = sorted(p.name for p in PCAPS.glob("*") if p.suffix != ".md") if PCAPS.exists() else []


def ingest(tmp_path: Path, *files: Path, config: Path | None = None) -> dict[str, Any]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    cmd = [OFFICEGUARD, "ingest", *map(str, files), "--db", str(tmp_path / "og.db"), "--json"]
    if config:
        cmd += ["--config", str(config)]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert "Traceback" not in res.stderr
    doc: dict[str, Any] = json.loads(res.stdout)
    return doc


def tshark_senders(path: Path) -> set[tuple[str, str]]:
    rows = tshark_fields(path, "arp", "arp.src.proto_ipv4", "arp.src.hw_mac")
    return {(ip, mac) for ip, mac in rows}


def tshark_duplicates(path: Path) -> set[str]:
    rows = tshark_fields(path, "arp.duplicate-address-frame", "arp.src.proto_ipv4")
    return {r[0] for r in rows}


@pytest.mark.parametrize("name", CAPTURES)
def test_stations_match_tshark_arp_senders(tmp_path: Path, name: str) -> None:
    path = pcap(name)
    doc = ingest(tmp_path, path)
    got = {(s["ip"], s["mac"]) for s in doc["stations"]}
    assert got == tshark_senders(path)
    poisoned = {f["subject"] for f in doc["findings"] if f["rule"] == "lan.arp_poisoning"}
    assert tshark_duplicates(path) <= poisoned


def test_poisoning_capture_is_flagged(tmp_path: Path) -> None:
    doc = ingest(tmp_path, pcap("ppa_arppoison.pcapng"))
    kinds = [e["kind"] for e in doc["events"]]
    assert "arp_poisoning" in kinds
    [f] = [f for f in doc["findings"] if f["rule"] == "lan.arp_poisoning"]
    assert f["subject"] == "172.16.0.1"
    assert f["severity"] == "high" and f["measure"] == "3-8" and f["status"] == "open"
    assert "00:25:b3:bf:91:ee" in json.dumps(f["evidence"])
    st = {(s["ip"], s["mac"]): s for s in doc["stations"]}
    s = st[("172.16.0.107", "00:21:70:c0:56:f0")]
    assert s["vendor"] and "Dell" in s["vendor"]
    assert s["randomized"] is False
    assert s["first_seen"].startswith("2010-07-16T")


def _generated(tmp_path: Path) -> Path:
    G, A, B, X = ("02:00:5e:00:53:01", "00:00:5e:00:53:0a", "00:00:5e:00:53:0b",
                  "02:00:5e:00:53:66")
    frames = [
        (1000.0, arpgen.ether_arp(1, A, "192.0.2.10", tip="192.0.2.1")),
        (1000.1, arpgen.ether_arp(2, G, "192.0.2.1", A, "192.0.2.10", eth_dst=A)),
        (1001.0, arpgen.ether_arp(1, B, "192.0.2.11", tip="192.0.2.1")),
        (1002.0, arpgen.ether_arp(2, X, "192.0.2.1", "ff:ff:ff:ff:ff:ff", "192.0.2.1")),
        (1003.0, arpgen.ether_arp(2, X, "192.0.2.1", "ff:ff:ff:ff:ff:ff", "192.0.2.1")),
        (1003.5, arpgen.ether_arp(2, G, "192.0.2.1", A, "192.0.2.10", eth_dst=A)),
        (1004.0, arpgen.ether_arp(1, "02:11:22:33:44:55", "203.0.113.9", tip="192.0.2.1")),
        (1005.0, arpgen.ether_arp(2, A, "192.0.2.10", B, "192.0.2.11",
                                  eth_src="00:00:5e:00:53:ee")),
        # A DHCP handover: probe first, then claim an address another device used before.
        (1006.0, arpgen.ether_arp(2, A, "192.0.2.50", B, "192.0.2.11")),
        (1010.0, arpgen.ether_arp(1, B, "0.0.0.0", tip="192.0.2.50")),
        (1011.0, arpgen.ether_arp(1, B, "192.0.2.50", tip="192.0.2.50")),
    ]
    p = tmp_path / "gen.pcap"
    write_pcap(p, 1, frames)
    return p


def test_generated_capture_events_and_findings(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('[networks]\nbusiness = ["192.0.2.0/24"]\ngateways = ["192.0.2.1"]\n')
    path = _generated(tmp_path)
    doc = ingest(tmp_path, path, config=cfg)
    kinds = [e["kind"] for e in doc["events"]]
    for k in ("new_station", "changed_ethernet_address", "arp_poisoning", "gateway_mac_changed",
              "flip_flop", "bogon", "ethernet_mismatch"):
        assert k in kinds, k
    rules = {(f["rule"], f["subject"]) for f in doc["findings"]}
    assert ("lan.arp_poisoning", "192.0.2.1") in rules
    assert ("lan.gateway_mac_changed", "192.0.2.1") in rules
    assert ("lan.arp_poisoning", "192.0.2.50") not in rules  # probed handover
    assert ("lan.unknown_station", "00:00:5e:00:53:0a") in rules
    for f in doc["findings"]:
        assert set(f) >= {"rule", "measure", "severity", "subject", "status", "evidence"}
    for e in doc["events"]:
        assert set(e) >= {"kind", "time", "ip", "mac"}
    # tshark's duplicate-address oracle agrees on the addresses that were really contested
    assert tshark_duplicates(path) - {"192.0.2.50"} <= {s for _r, s in rules}


def test_ingest_twice_aggregates_without_duplicates(tmp_path: Path) -> None:
    path = _generated(tmp_path)
    first = ingest(tmp_path, path)
    second = ingest(tmp_path, path)
    assert len(second["stations"]) == len(first["stations"])
    db = tmp_path / "og.db"
    res = subprocess.run([OFFICEGUARD, "findings", "--db", str(db), "--json"],
                         capture_output=True, text=True)
    doc = json.loads(res.stdout)
    keys = [(f["rule"], f["subject"]) for f in doc["findings"]]
    assert len(keys) == len(set(keys))
    res = subprocess.run([OFFICEGUARD, "status", "--db", str(db), "--json"],
                         capture_output=True, text=True)
    st = json.loads(res.stdout)
    assert st["counts"]["stations"] == len(first["stations"])
    frames = {(s["ip"], s["mac"]): s["frames"] for s in second["stations"]}
    assert frames[("192.0.2.1", "02:00:5e:00:53:66")] == 4  # two runs, two frames each


def test_bad_inputs_are_clear_errors(tmp_path: Path) -> None:
    junk = tmp_path / "junk.pcap"
    junk.write_bytes(b"\x00" * 100)
    res = subprocess.run([OFFICEGUARD, "ingest", str(junk), "--db", str(tmp_path / "x.db")],
                         capture_output=True, text=True)
    assert res.returncode == 1
    assert "not a pcap" in res.stderr and "Traceback" not in res.stderr
    res = subprocess.run([OFFICEGUARD, "ingest", str(tmp_path / "missing.pcap")],
                         capture_output=True, text=True)
    assert res.returncode == 1 and "no such capture file" in res.stderr


def test_findings_and_status_without_a_database(tmp_path: Path) -> None:
    for cmd in ("findings", "status"):
        res = subprocess.run([OFFICEGUARD, cmd, "--db", str(tmp_path / "none.db")],
                             capture_output=True, text=True)
        assert res.returncode == 1
        assert "no database yet" in res.stderr and "Traceback" not in res.stderr


def test_an_ingest_in_process_leaves_the_cycle_collector_as_it_found_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`ingest` sets the collector for a batch run (docs/performance.md); a caller that runs it
    in its own process (a test, a script) gets its settings back, and nothing held frozen."""
    import gc

    from appliance import cli

    path = _generated(tmp_path)
    before = gc.get_threshold()
    gc.set_threshold(900, 11, 12)
    try:
        rc = cli.main(["ingest", str(path), "--db", str(tmp_path / "og.db"), "--json"])
        assert rc == 0
        assert gc.get_threshold() == (900, 11, 12) and gc.get_freeze_count() == 0
        doc = json.loads(capsys.readouterr().out)
        assert doc["stations"] and doc["frames"] > 0
        gc.freeze()  # a caller that set objects aside itself keeps them aside
        frozen = gc.get_freeze_count()
        assert frozen > 0
        assert cli.main(["ingest", str(path), "--db", str(tmp_path / "og.db"), "--json"]) == 0
        # still set aside (all but the few freed since: the count follows live objects)
        assert gc.get_freeze_count() > frozen - 1000
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
