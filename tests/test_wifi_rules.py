"""Generated monitor-mode captures: each attack raises exactly one finding of the right measure,
and the facility's own misconfigurations raise theirs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agent.capture import write_pcap
from agent.rules.wifi import edit_distance, skeleton
from tests import wifigen as g
from tests.test_ingest import ingest

GUEST = "02:00:5e:10:00:01"
GUEST2 = "02:00:5e:10:00:02"
STAFF = "02:00:5e:10:00:11"
EVIL = "00:13:37:00:00:66"
CONFIG = f"""
[[facility.ssids]]
name = "Shibuya-Guest"
role = "guest"
bssids = ["{GUEST}", "{GUEST2}"]

[[facility.ssids]]
name = "Shibuya-Staff"
role = "business"
bssids = ["{STAFF}"]
"""


def run(tmp_path: Path, frames: list[tuple[float, bytes]], config: str = CONFIG
        ) -> dict[str, Any]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    cap = tmp_path / "gen.pcap"
    write_pcap(cap, 127, frames)
    cfg = tmp_path / "c.toml"
    cfg.write_text(config)
    return ingest(tmp_path, cap, config=cfg)


def beacons(bssid: str, ssid: str, n: int = 20, t0: float = 1000.0, **kw: Any
            ) -> list[tuple[float, bytes]]:
    sig = kw.pop("signal", -50)
    freq = kw.pop("freq", 2412)
    return [(t0 + i * 0.1024, g.radiotap(g.beacon(bssid, ssid, **kw), freq=freq, signal=sig))
            for i in range(n)]


def healthy(n: int = 20) -> list[tuple[float, bytes]]:
    """The facility's three APs, N beacons each 102.4 ms apart (20: two seconds)."""
    return (beacons(GUEST, "Shibuya-Guest", n=n, security="WPA2", pmf=True)
            + beacons(GUEST2, "Shibuya-Guest", n=n, security="WPA2", pmf=True, channel=6,
                      freq=2437)
            + beacons(STAFF, "Shibuya-Staff", n=n, security="WPA3"))


def rules(doc: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    return sorted((f["rule"], f["measure"], f["severity"], f["subject"])
                  for f in doc["findings"] if f["status"] != "resolved")


def test_hardened_facility_raises_nothing(tmp_path: Path) -> None:
    doc = run(tmp_path, sorted(healthy()))
    assert rules(doc) == []
    facility = {a["bssid"] for a in doc["access_points"] if a["facility"]}
    assert facility == {GUEST, GUEST2, STAFF}


def test_evil_twin_unknown_bssid(tmp_path: Path) -> None:
    frames = healthy() + beacons(EVIL, "Shibuya-Guest", security="WPA2", pmf=True, t0=1000.05)
    doc = run(tmp_path, sorted(frames))
    assert rules(doc) == [("wifi.rogue_ap", "3-8", "high", EVIL)]


def test_open_evil_twin_without_any_configuration(tmp_path: Path) -> None:
    frames = healthy() + beacons(EVIL, "Shibuya-Guest", security="OPEN", t0=1000.05)
    doc = run(tmp_path, sorted(frames), config="")
    assert rules(doc) == [("wifi.rogue_ap", "3-8", "high", EVIL)]
    [f] = doc["findings"]
    assert f["evidence"]["reasons"] == ["open_twin"]


def test_open_twin_of_a_facility_ssid_is_critical(tmp_path: Path) -> None:
    frames = healthy() + beacons(EVIL, "Shibuya-Guest", security="OPEN", t0=1000.05)
    doc = run(tmp_path, sorted(frames))
    assert rules(doc) == [("wifi.rogue_ap", "3-8", "critical", EVIL)]
    assert set(doc["findings"][0]["evidence"]["reasons"]) == {"unknown_bssid", "open_twin"}


def test_spoofed_bssid_with_a_second_transmitter(tmp_path: Path) -> None:
    frames = healthy() + beacons(GUEST, "", security="WPA2", pmf=True, interval=9999, n=4,
                                 t0=1000.07, signal=-20)
    doc = run(tmp_path, sorted(frames))
    assert rules(doc) == [("wifi.rogue_ap", "3-8", "high", GUEST)]


def test_security_downgrade_of_a_known_bssid(tmp_path: Path) -> None:
    frames = healthy() + beacons(STAFF, "Shibuya-Staff", security="OPEN", t0=1100.0)
    doc = run(tmp_path, sorted(frames))
    assert rules(doc) == [("wifi.rogue_ap", "3-8", "high", STAFF)]
    assert doc["findings"][0]["evidence"]["reasons"] == ["security_downgrade"]


def test_deauth_flood_is_one_finding(tmp_path: Path) -> None:
    flood = [(1001.0 + i * 0.01, g.radiotap(g.deauth(GUEST, "ff:ff:ff:ff:ff:ff")))
             for i in range(3000)]
    doc = run(tmp_path, sorted(healthy() + flood))
    assert rules(doc) == [("wifi.deauth_flood", "3-8", "high", GUEST)]
    assert doc["findings"][0]["evidence"]["frames"] >= 11


def test_a_few_deauths_are_not_a_flood(tmp_path: Path) -> None:
    few = [(1001.0 + i * 0.5, g.radiotap(g.deauth(GUEST, "02:00:5e:99:00:01")))
           for i in range(30)]
    assert rules(run(tmp_path, sorted(healthy() + few))) == []


def test_beacon_flood_is_one_finding(tmp_path: Path) -> None:
    fake = []
    for i in range(600):  # mdk-style: random locally administered BSSIDs, random names
        bssid = f"0a:{i >> 8:02x}:{i & 0xff:02x}:00:00:01"
        for k in range(3):
            fake.append((1002.0 + i * 0.01 + k * 0.003,
                         g.radiotap(g.beacon(bssid, f"Free WiFi {i}", security="OPEN"))))
    # the capture goes on after the burst: its BSSIDs are judged 32 s after they appear (the
    # default hop plan), on the capture's clock
    doc = run(tmp_path, sorted(healthy(n=450) + fake))
    assert rules(doc) == [("wifi.beacon_flood", "3-8", "high", "beacon-flood")]
    assert len(doc["access_points"]) < 100  # the fakes are not inventoried


def test_facility_misconfigurations(tmp_path: Path) -> None:
    frames = (beacons(GUEST, "Shibuya-Guest", security="OPEN")
              + beacons(GUEST2, "Shibuya-Guest", security="WPA2-TKIP", channel=6, freq=2437,
                        wps_ie=g.wps(state=2, locked=False))
              + beacons(STAFF, "Shibuya-Staff", security="WPA2"))
    doc = run(tmp_path, sorted(frames))
    got = rules(doc)
    assert ("wifi.weak_encryption", "3-3", "critical", GUEST) in got
    assert ("wifi.weak_encryption", "3-3", "medium", GUEST2) in got
    assert ("wifi.wps_enabled", "3-3", "medium", GUEST2) in got
    assert ("wifi.no_pmf", "3-3", "low", STAFF) in got
    assert ("wifi.no_pmf", "3-3", "low", GUEST2) in got
    assert not [r for r in got if r[0] == "wifi.rogue_ap"]


def test_fixing_an_ap_resolves_its_finding(tmp_path: Path) -> None:
    first = beacons(STAFF, "Shibuya-Staff", security="WPA2")
    run(tmp_path, first)
    fixed = beacons(STAFF, "Shibuya-Staff", security="WPA2", pmf=True, t0=5000.0)
    doc = run(tmp_path, fixed)
    [f] = [f for f in doc["findings"] if f["rule"] == "wifi.no_pmf"]
    assert f["status"] == "resolved"


def test_lookalike_ssids(tmp_path: Path) -> None:
    frames = healthy() + beacons("00:13:37:00:00:77", "Shibuya-Gue5t", t0=1000.03) + beacons(
        "00:13:37:00:00:78", "Cafe Latte", t0=1000.04)
    assert rules(run(tmp_path, sorted(frames))) == [
        ("wifi.lookalike_ssid", "3-8", "medium", "00:13:37:00:00:77")]


def test_skeleton_and_distance() -> None:
    assert skeleton("Shibuya-Guest") == skeleton("SHIBUYA_GUE5T")
    assert skeleton("Guеst") == skeleton("Guest")  # Cyrillic е
    assert edit_distance("kitten", "sitting", 5) == 3
    assert edit_distance("a" * 30, "b" * 30, 2) == 3  # stops early past the limit


def test_single_stray_frame_raises_nothing(tmp_path: Path) -> None:
    frames = healthy() + beacons(EVIL, "Shibuya-Guest", security="OPEN", n=1, t0=1000.05)
    assert rules(run(tmp_path, sorted(frames))) == []


def test_boundary_sensor_leakage(tmp_path: Path) -> None:
    cfg = CONFIG + "\n[wifi]\nboundary_sensor = true\nleakage_threshold_dbm = -75\n"
    frames = (beacons(GUEST, "Shibuya-Guest", security="WPA2", pmf=True, signal=-60)
              + beacons(STAFF, "Shibuya-Staff", security="WPA3", signal=-85))
    assert rules(run(tmp_path, sorted(frames), config=cfg)) == [
        ("wifi.signal_leakage", "3-3", "medium", GUEST)]


def test_hostile_ssids_are_stored_as_data(tmp_path: Path) -> None:
    names = [b"<script>alert(1)</script>", b'"><img src=x onerror=alert(1)>',
             b"'; DROP TABLE access_points;--", b"=HYPERLINK(\"http://x\",\"y\")",
             b"\xff\xfe\x80caf\xe9", b"\x00\x00\x00"]
    frames: list[tuple[float, bytes]] = []
    for i, n in enumerate(names):
        frames += beacons(f"00:13:37:00:01:{i:02x}", n.decode("latin-1"), t0=1000 + i)
    frames = [(t, g.radiotap(g.beacon(f"00:13:37:00:01:{i:02x}", n)))
              for i, n in enumerate(names) for t in (1000.0 + i, 1000.1 + i, 1000.2 + i)]
    doc = run(tmp_path, sorted(frames))
    by = {a["bssid"]: a for a in doc["access_points"]}
    for i, n in enumerate(names):
        a = by[f"00:13:37:00:01:{i:02x}"]
        assert a["ssid_hex"] == ("" if not n.strip(b"\x00") else n.hex())
    assert by["00:13:37:00:01:00"]["ssid"] == "<script>alert(1)</script>"
    assert "\ufffd" in by["00:13:37:00:01:04"]["ssid"]
    assert by["00:13:37:00:01:05"]["hidden"] is True


def test_walk_test_capture_as_a_survey(tmp_path: Path) -> None:
    frames = sorted(beacons(GUEST, "Shibuya-Guest", security="WPA2", pmf=True, signal=-62)
                    + beacons(STAFF, "Shibuya-Staff", security="WPA3", signal=-90))
    cap = tmp_path / "walk.pcap"
    write_pcap(cap, 127, frames)
    cfg = tmp_path / "c.toml"
    cfg.write_text(CONFIG)
    import json
    import subprocess

    from tests.conftest import OFFICEGUARD

    res = subprocess.run([OFFICEGUARD, "ingest", str(cap), "--db", str(tmp_path / "s.db"),
                          "--config", str(cfg), "--survey", "corridor", "--json"],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    by = {b["bssid"]: b for b in doc["survey"]["bssids"]}
    assert by[GUEST]["leaks"] is True and by[STAFF]["leaks"] is False
    assert by[GUEST]["rssi_dbm"]["mean"] == -62.0 and by[GUEST]["samples"] == 20
    assert [(f["rule"], f["subject"]) for f in doc["findings"]
            if f["rule"] == "wifi.signal_leakage"] == [
        ("wifi.signal_leakage", f"{GUEST} @ corridor")]
    listed = subprocess.run([OFFICEGUARD, "survey", "list", "--db", str(tmp_path / "s.db"),
                             "--config", str(cfg), "--json"], capture_output=True, text=True)
    assert json.loads(listed.stdout)["surveys"][0]["label"] == "corridor"
