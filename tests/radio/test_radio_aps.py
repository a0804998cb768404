"""Live, against the kernel's own 802.11 stack: facility APs of every security kind, an evil
twin and a hidden SSID revealed by probe responses, seen by the real agent hopping channels on
a monitor-mode radio it set up itself."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.radio.conftest import Agent, Bed

pytestmark = [pytest.mark.root, pytest.mark.slow]

PSK = "correct-horse-battery"  # a test network's passphrase, never shipped
WPA2 = f"wpa=2\nwpa_key_mgmt=WPA-PSK\nrsn_pairwise=CCMP\nwpa_passphrase={PSK}"
SAE = f"wpa=2\nwpa_key_mgmt=SAE\nrsn_pairwise=CCMP\nieee80211w=2\nsae_password={PSK}"
MIXED = (f"wpa=2\nwpa_key_mgmt=WPA-PSK SAE\nrsn_pairwise=CCMP\nieee80211w=1\n"
         f"wpa_passphrase={PSK}\nsae_password={PSK}")
WPS = (f"{WPA2}\nieee80211w=1\nwps_state=2\neap_server=1\nap_setup_locked=0\n"
       "config_methods=label display push_button keypad\ndevice_name=OfficeRouter\n"
       "manufacturer=ACME")
HIDDEN = f"{WPA2}\nieee80211w=1\nignore_broadcast_ssid=2"

# radio: 0 the agent's, 1..5 facility APs, 6 the twin, 7 the hidden AP, 8 a probing station
MON, OPEN_N, WPA2_N, SAE_N, MIXED_N, WPS_N, TWIN_N, HIDDEN_N, STA_N = range(9)


@pytest.fixture(scope="module")
def run(bed: Bed) -> Iterator[Agent]:
    aps = {
        "open": bed.ap("ap-open", OPEN_N, "Office-Open", 1),
        "wpa2": bed.ap("ap-wpa2", WPA2_N, "Office-WPA2", 6, WPA2),
        "sae": bed.ap("ap-sae", SAE_N, "Office-SAE", 11, SAE),
        "mixed": bed.ap("ap-mixed", MIXED_N, "Office-Mixed", 1, MIXED),
        "wps": bed.ap("ap-wps", WPS_N, "Office-WPS", 6, WPS),
        "twin": bed.ap("ap-twin", TWIN_N, "Office-WPA2", 11),  # open, another BSSID
        "hidden": bed.ap("ap-hidden", HIDDEN_N, "Office-Hidden", 6, HIDDEN),
    }
    facility = "".join(
        f'[[facility.ssids]]\nname = "{ssid}"\nrole = "business"\nbssids = ["{aps[k]}"]\n'
        for k, ssid in (("open", "Office-Open"), ("wpa2", "Office-WPA2"), ("sae", "Office-SAE"),
                        ("mixed", "Office-Mixed"), ("wps", "Office-WPS")))
    agent = bed.start_agent(MON, "[wifi]\nchannels_24 = [1, 6, 11]\nchannels_5 = []\n"
                            "dwell_s = 1.0\n" + facility)
    # a station looking for the hidden network: directed probe requests, answered with its name
    # (`iw ... scan` sometimes never returns on hwsim: each scan gets a time limit)
    scan = (f"timeout -s KILL 20 iw dev wlan{STA_N} scan freq 2437 ssid Office-Hidden "
            ">/dev/null 2>&1")
    bed.vm.spawn("prober", ["/bin/sh", "-c",
                            f"ip link set wlan{STA_N} up; while true; do {scan}; done"])
    want = set(aps.values())

    def seen_all() -> bool:
        got = agent.aps()
        return want <= set(got) and all(got[b]["beacons"] >= 10 for b in want) and (
            got[aps["hidden"]]["probe_responses"] > 0)

    try:
        agent.wait(seen_all, "every AP with ten beacons and the hidden SSID revealed")
    finally:
        bed.vm.stop("prober")
        agent.stop()
        for name in ("ap-open", "ap-wpa2", "ap-sae", "ap-mixed", "ap-wps", "ap-twin",
                     "ap-hidden"):
            bed.vm.stop(name)
    agent.bssids = aps
    yield agent


def _ap(run: Agent, key: str) -> dict[str, Any]:
    bssid = run.bssids[key]
    [row] = run.query("SELECT * FROM access_points WHERE bssid = ?", (bssid,))
    return row


@pytest.mark.parametrize(("key", "ssid", "channel", "security", "pmf", "akm"), [
    ("open", "Office-Open", 1, "OPEN", "none", []),
    ("wpa2", "Office-WPA2", 6, "WPA2", "none", [2]),
    ("sae", "Office-SAE", 11, "WPA3", "required", [8]),
    ("mixed", "Office-Mixed", 1, "WPA2/WPA3", "capable", [2, 8]),
    ("wps", "Office-WPS", 6, "WPA2", "capable", [2]),
])
def test_security_pmf_and_channel_per_ap(run: Agent, key: str, ssid: str, channel: int,
                                         security: str, pmf: str, akm: list[int]) -> None:
    a = _ap(run, key)
    assert (a["ssid"], a["channel"], a["security"], a["pmf"]) == (ssid, channel, security, pmf)
    assert json.loads(a["akm"]) == akm
    assert a["frequency_mhz"] == 2407 + 5 * channel
    assert a["rssi_last"] == -30  # what mac80211_hwsim reports
    assert (a["wps"] is not None) == (key == "wps")


def test_wps_details_from_the_live_beacon(run: Agent) -> None:
    wps = json.loads(_ap(run, "wps")["wps"])
    assert wps["state"] == "configured" and not wps["locked"]


def test_facility_checks_3_3(run: Agent) -> None:
    """The facility's own APs raise exactly the 3-③ findings their configuration deserves."""
    b = run.bssids
    got = sorted((f["rule"], f["subject"], f["severity"]) for f in run.findings()
                 if f["measure"] == "3-3" and f["status"] != "resolved")
    assert got == sorted([
        ("wifi.weak_encryption", b["open"], "critical"),
        ("wifi.no_pmf", b["wpa2"], "low"),
        ("wifi.wps_enabled", b["wps"], "medium"),
    ])


def test_evil_twin_raises_one_finding(run: Agent) -> None:
    b = run.bssids
    rogue = run.findings("wifi.rogue_ap")
    assert [(f["subject"], f["severity"]) for f in rogue] == [(b["twin"], "critical")]
    assert set(rogue[0]["evidence"]["reasons"]) == {"unknown_bssid", "open_twin"}


def test_hidden_ssid_revealed_by_probe_responses(run: Agent) -> None:
    a = _ap(run, "hidden")
    assert a["ssid"] == "Office-Hidden" and a["hidden"] == 1
    assert a["probe_responses"] > 0 and a["beacons"] > 0


def test_agent_ran_as_an_unprivileged_user_and_hopped(run: Agent) -> None:
    [meta] = run.query("SELECT value FROM meta WHERE key = 'agent'")
    doc = json.loads(meta["value"])
    wifi = next(s for s in doc["sensors"] if s["name"] == "wifi")
    assert wifi["active"] and "hopping over 3 channels" in wifi["detail"]
    log = run.log.read_text()
    assert "put wlan0 into monitor mode" in log  # the appliance's own set-up code did it
    assert doc["wifi_frames"] > 0
