"""Live attacks with real frames: a deauthentication burst that disconnects a real station, a
beacon flood of fully random and locally administered BSSIDs, and an AP that disappears and
returns, seen by the real agent hopping channels inside the radio VM.

Every phase runs until the agent's store shows its effect or a deadline derived from this boot's
measured speed passes: the injectors keep sending until the finding is there, nothing sleeps a
fixed time."""

from __future__ import annotations

import itertools
import sys
import time
from collections.abc import Iterator

import pytest

from tests.radio.conftest import INJECT, Agent, Bed, _read
from tests.radio.inject import flood_bssids

pytestmark = [pytest.mark.root, pytest.mark.slow]

PSK = "correct-horse-battery"  # a test network's passphrase, never shipped
MON, OPEN_N, WPA2_N, STA_N, INJ_N = 0, 1, 2, 8, 9
SEED = 1234


@pytest.fixture(scope="module")
def run(bed: Bed) -> Iterator[Agent]:
    vm = bed.vm
    aps = {"open": bed.ap("ap2-open", OPEN_N, "Office-Open", 1),
           "wpa2": bed.ap("ap2-wpa2", WPA2_N, "Office-WPA2", 6,
                          f"wpa=2\nwpa_key_mgmt=WPA-PSK\nrsn_pairwise=CCMP\n"
                          f"wpa_passphrase={PSK}")}
    sta_log = bed.station("sta", STA_N, f'ssid="Office-WPA2"\npsk="{PSK}"\nkey_mgmt=WPA-PSK')
    vm.wait_for(lambda: "CTRL-EVENT-CONNECTED" in _read(sta_log), vm.t(60, 90),
                "the station to join Office-WPA2")
    facility = "".join(
        f'[[facility.ssids]]\nname = "{ssid}"\nrole = "guest"\nbssids = ["{aps[k]}"]\n'
        for k, ssid in (("open", "Office-Open"), ("wpa2", "Office-WPA2")))
    agent = bed.start_agent(MON, "[wifi]\nchannels_24 = [1, 6, 11]\nchannels_5 = []\n"
                            "dwell_s = 1.0\n" + facility)
    agent.bssids = aps
    agent.notes["sta_log"] = sta_log
    inj = bed.monitor(INJ_N, 6)
    py = bed.py
    try:
        agent.wait(lambda: all(a["beacons"] >= 10 for a in agent.aps().values())
                   and len(agent.aps()) == 2, "both APs")

        # 1. deauthentication burst against the WPA2 AP and its station
        vm.spawn("deauth", [py, str(INJECT), inj, "deauth", aps["wpa2"], "02:00:00:00:08:00",
                            "100", "100000"])
        agent.wait(lambda: agent.peek("SELECT 1 FROM findings WHERE rule = 'wifi.deauth_flood'"),
                   "the deauthentication flood finding")
        vm.wait_for(lambda: "CTRL-EVENT-DISCONNECTED" in _read(sta_log), vm.t(60, 60),
                    "the station to be disconnected")
        vm.stop("deauth")

        # 2. beacon flood on channel 11, where no real AP is
        vm.sh(f"iw dev {inj} set channel 11")
        vm.spawn("flood", [py, str(INJECT), inj, "flood", "50", "100000", "2", str(SEED),
                           "11"])
        agent.wait(lambda: agent.peek("SELECT 1 FROM findings WHERE rule = 'wifi.beacon_flood'"),
                   "the beacon flood finding")
        vm.stop("flood")
        flood_log = _read(vm.share / "flood.log")
        sent = [int(line.split()[3]) for line in flood_log.splitlines()
                if line.startswith("sent ") and "BSSIDs" in line]
        agent.notes["flood_bssids_sent"] = sent[-1] if sent else 0

        # 3. the open AP disappears (hostapd stops) and returns
        vm.stop("ap2-open")
        gone = time.monotonic()
        cycle = 3 * (1.0 + vm.unit)  # three channels: dwell plus one `iw` start each
        agent.wait(lambda: time.monotonic() - gone > 3 * cycle,
                   "three hop cycles without the open AP")
        before = agent.aps()[aps["open"]]
        agent.notes["before"] = before
        bed.ap("ap2-open", OPEN_N, "Office-Open", 1)
        agent.wait(lambda: agent.aps()[aps["open"]]["beacons"] >= before["beacons"] + 10,
                   "the open AP's beacons after its return")
    finally:
        for name in ("deauth", "flood"):
            vm.stop(name)
        agent.stop()
        for name in ("sta", "ap2-open", "ap2-wpa2"):
            vm.stop(name)
    yield agent


def test_deauth_burst_raises_one_finding(run: Agent) -> None:
    floods = run.findings("wifi.deauth_flood")
    assert [f["subject"] for f in floods] == [run.bssids["wpa2"]]
    ev = floods[0]["evidence"]
    assert ev["frames"] > ev["threshold_per_s"] and ev["per_second_peak"] > 10
    assert "CTRL-EVENT-DISCONNECTED" in _read(run.notes["sta_log"])


def test_beacon_flood_raises_one_finding_and_stays_out_of_the_inventory(run: Agent) -> None:
    floods = run.findings("wifi.beacon_flood")
    assert len(floods) == 1
    assert floods[0]["evidence"]["impossible_bssids"] > 0  # group-bit BSSIDs were heard
    sent = run.notes["flood_bssids_sent"]
    assert sent > 50
    fakes = {":".join(f"{x:02x}" for x in b)
             for b, _name in itertools.islice(flood_bssids(SEED), sent + 100)}
    stored = {r["bssid"] for r in run.query("SELECT bssid FROM access_points")}
    print(f"flood: {sent} BSSIDs sent, {len(stored & fakes)} in the inventory", file=sys.stderr)
    assert stored & fakes == set()
    assert set(run.bssids.values()) <= stored  # the real APs stayed


def test_ap_disappears_and_returns(run: Agent) -> None:
    bssid = run.bssids["open"]
    before = run.notes["before"]
    [now] = run.query("SELECT * FROM access_points WHERE bssid = ?", (bssid,))
    assert now["first_seen"] == before["first_seen"]  # the same AP, not a new one
    assert now["last_seen"] > before["last_seen"]
    assert now["beacons"] >= before["beacons"] + 10
    mine = [f for f in run.findings() if f["subject"] == bssid]
    # its one configuration finding (open), raised once; its return is no rogue or conflict
    assert [(f["rule"], f["status"]) for f in mine] == [("wifi.weak_encryption", "open")]
