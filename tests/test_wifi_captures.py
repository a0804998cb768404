"""The AP inventory of `officeguard ingest` against tshark, field by field, on real captures."""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import PCAPS, pcap, tshark_fields
from tests.test_ingest import ingest

WIFI = ["wpa3ids_deauth.pcapng", "wiguard_hidden_SSID.pcapng", "sniffair_demo1.pcapdump",
        "wifi_pi_survey_wlan.pcap", "aircrack_wpa-psk-linksys.cap",
        "wifite2_handshake_has_1234.cap", "ppa_3e80211_wepauth.pcapng"]
FIELDS = ("wlan.fc.type_subtype", "wlan.bssid", "wlan.ssid", "wlan.ds.current_channel",
          "wlan.fixed.capabilities.privacy", "wlan.rsn.akms.type", "wlan.rsn.pcs.type",
          "wlan.rsn.gcs.type", "wlan.rsn.capabilities.mfpr", "wps.version",
          "wlan.wfa.ie.wpa.akms", "wlan_radio.signal_dbm")


def _ints(s: str) -> list[int]:
    return [int(x, 0) for x in s.split(",") if x]


def tshark_aps(path: Path) -> dict[str, dict[str, Any]]:
    rows = tshark_fields(path, "wlan.fc.type_subtype == 8 || wlan.fc.type_subtype == 5",
                         *FIELDS)
    aps: dict[str, dict[str, Any]] = defaultdict(lambda: {"beacons": 0, "ssids": set(),
                                                          "last": None, "signals": []})
    for r in rows:
        r += [""] * (len(FIELDS) - len(r))
        st, bssid, ssid, ch, priv, akm, pcs, gcs, mfpr, wps, wpa_akm, sig = r
        a = aps[bssid]
        beacon = int(st, 0) == 8
        a["beacons"] += beacon
        a["ssids"].add("" if ssid == "<MISSING>" else ssid)
        frame = {"channel": int(ch) if ch else None, "privacy": priv in ("1", "True"),
                 "akm": _ints(akm), "pcs": _ints(pcs), "gcs": _ints(gcs),
                 "mfpr": mfpr in ("1", "True"), "wps": bool(wps), "wpa_akm": _ints(wpa_akm)}
        if sig:
            a["signals"].append(int(sig.split(",")[0]))
        if beacon or a["last"] is None or not a["last"][0]:
            a["last"] = (beacon, frame)
    return aps


@pytest.mark.parametrize("name", [n for n in WIFI if (PCAPS / n).exists()] or WIFI)
def test_access_points_agree_with_tshark(tmp_path: Path, name: str) -> None:
    path = pcap(name)
    assert_aps_agree_with_tshark(path, ingest(tmp_path, path))


def assert_aps_agree_with_tshark(path: Path, doc: dict[str, Any]) -> None:
    """Every AP of `officeguard ingest`'s answer DOC against tshark on the same capture."""
    ref = tshark_aps(path)
    assert ref, "tshark found no AP: the comparison would examine nothing"
    ours = {a["bssid"]: a for a in doc["access_points"]}
    assert set(ours) == set(ref), "BSSID set"
    for bssid, t in ref.items():
        a = ours[bssid]
        assert a["beacons"] == t["beacons"], (bssid, "beacons")
        named = {s for s in t["ssids"] if s.strip("0")}
        if named:
            assert a["ssid_hex"] in named, (bssid, "ssid")
        else:
            assert a["hidden"] and a["ssid"] == "", (bssid, "hidden")
        _beacon, f = t["last"]
        assert a["privacy"] == f["privacy"], (bssid, "privacy")
        if f["channel"] is not None:
            assert a["channel"] == f["channel"], (bssid, "channel")
        if f["akm"] or f["pcs"]:
            assert a["akm"] == f["akm"], (bssid, "akm")
            assert a["pairwise"] == f["pcs"], (bssid, "pairwise")
            assert a["group_cipher"] == (f["gcs"][0] if f["gcs"] else None), (bssid, "group")
            assert (a["pmf"] == "required") == f["mfpr"], (bssid, "mfpr")
        elif f["wpa_akm"]:
            assert a["security"].startswith("WPA"), (bssid, "wpa1")
            assert a["akm"] == [x & 0xFF for x in f["wpa_akm"]], (bssid, "wpa1 akm")
        else:
            assert a["security"] == ("WEP" if f["privacy"] else "OPEN"), (bssid, "security")
        assert (a["wps"] is not None) == f["wps"], (bssid, "wps")
        if t["signals"]:
            assert a["rssi_dbm"]["min"] == min(t["signals"]), (bssid, "rssi min")
            assert a["rssi_dbm"]["max"] == max(t["signals"]), (bssid, "rssi max")
        else:
            assert a["rssi_dbm"] is None


def test_security_labels_on_real_captures(tmp_path: Path) -> None:
    got: dict[str, Counter[str]] = {}
    for name in ("wiguard_hidden_SSID.pcapng", "sniffair_demo1.pcapdump",
                 "aircrack_wpa-psk-linksys.cap", "ppa_3e80211_wepauth.pcapng",
                 "wifite2_handshake_has_1234.cap"):
        doc = ingest(tmp_path / name, pcap(name))
        got[name] = Counter(a["security"] for a in doc["access_points"])
    assert got["wiguard_hidden_SSID.pcapng"] == Counter({"OPEN": 1, "WPA3": 1, "WPA2/WPA3": 1})
    assert got["sniffair_demo1.pcapdump"]["WPA2-Enterprise"] == 1
    assert got["aircrack_wpa-psk-linksys.cap"] == Counter({"WPA": 1})
    assert got["ppa_3e80211_wepauth.pcapng"] == Counter({"WEP": 1})
    assert got["wifite2_handshake_has_1234.cap"] == Counter({"WPA/WPA2": 1})


def test_hidden_ssid_revealed_by_probe_response(tmp_path: Path) -> None:
    doc = ingest(tmp_path, pcap("wiguard_hidden_SSID.pcapng"))
    [free] = [a for a in doc["access_points"] if a["security"] == "OPEN"]
    assert free["ssid"] == "wifi-free" and free["hidden"] is True


def test_real_evil_twin_and_deauth_flood(tmp_path: Path) -> None:
    doc = ingest(tmp_path, pcap("wpa3ids_deauth.pcapng"))
    rogue = [f for f in doc["findings"] if f["rule"] == "wifi.rogue_ap"]
    assert [(f["subject"], f["measure"]) for f in rogue] == [("30:86:2d:c0:07:c0", "3-8")]
    assert rogue[0]["evidence"]["reasons"] == ["conflicting_beacons"]
    doc = ingest(tmp_path / "w2", pcap("wifite2_handshake_has_1234.cap"))
    floods = [f for f in doc["findings"] if f["rule"] == "wifi.deauth_flood"]
    assert len(floods) == 1 and floods[0]["subject"] == "18:d6:c7:6d:6b:18"
