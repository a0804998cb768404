"""Beacon floods: what a flood tool really sends (fully random, locally administered or
vendor-looking BSSIDs, each beaconing only a few times) raises one finding, its fakes stay out of
the inventory, and a dense office starting up does not look like a flood."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from agent import wifi as w
from agent.parsers.dot11 import parse_mgmt
from agent.parsers.radio import parse_radiotap
from agent.pipeline import Pipeline
from appliance.config import Config
from appliance.store import Store
from tests import wifigen as g
from tests.test_wifi_rules import GUEST, GUEST2, STAFF, beacons, healthy, rules, run


def _mac(rng: random.Random, kind: str) -> str:
    b = bytearray(rng.randbytes(6))
    if kind == "la":  # locally administered unicast (mdk's default)
        b[0] = (b[0] | 0x02) & ~0x01
    elif kind == "global":  # looks like a vendor's address
        b[0] &= ~0x03
    return ":".join(f"{x:02x}" for x in b)  # "random": every bit random, group bit included


def flood(kind: str, seconds: float = 60.0, per_s: int = 10, beacons_each: int = 2,
          t0: float = 1002.0, seed: int = 7) -> tuple[list[tuple[float, bytes]], set[str]]:
    """A flood tool's frames: PER_S new BSSIDs a second, each beaconing a few times, 20 ms
    apart, then never again."""
    rng = random.Random(seed)
    frames, macs = [], set()
    for i in range(int(seconds * per_s)):
        mac = _mac(rng, kind)
        macs.add(mac)
        t = t0 + i / per_s
        for k in range(beacons_each):
            frames.append((t + k * 0.02, g.radiotap(g.beacon(
                mac, f"free-{rng.randrange(10**6)}", security="OPEN"), signal=-40)))
    return frames, macs


def _state_feed(frames: list[tuple[float, bytes]], **kw: Any
                ) -> tuple[w.WifiState, list[w.WifiEventSeen]]:
    st = w.WifiState(w.WifiSettings(**kw))
    events = []
    for ts, data in sorted(frames):
        split = parse_radiotap(data)
        assert split is not None
        m = parse_mgmt(ts, split[1], split[0])
        assert m is not None
        events += st.observe_beacon(m)  # type: ignore[arg-type]
    return st, events


@pytest.mark.parametrize(("kind", "beacons_each", "flood_expected"), [
    ("random", 1, True),      # fully random: a quarter group-bit + LA, most one-shot
    ("random", 4, True),      # fully random, long enough to confirm: the address bits suffice
    ("la", 1, True),
    ("la", 4, True),          # mdk-style: locally administered, several beacons each
    ("global", 1, True),      # vendor-looking addresses, but each beacons once: short-lived
    ("global", 2, True),
])
def test_flood_signatures(kind: str, beacons_each: int, flood_expected: bool) -> None:
    frames, macs = flood(kind, seconds=30, beacons_each=beacons_each)
    st, events = _state_feed(healthy() + frames)
    floods = [e for e in events if e.kind == w.BEACON_FLOOD]
    assert (len(floods) == 1) == flood_expected, floods
    inventory = {a.bssid for a in st.take_dirty()}
    assert GUEST in inventory and STAFF in inventory
    assert not {m for m in inventory if int(m[:2], 16) & 1}, "group-bit BSSIDs are no APs"
    fakes = inventory & macs
    assert len(fakes) <= 1, f"{len(fakes)} fakes in the inventory"  # the very first at most
    confirmed = [e.subject for e in events if e.kind == w.AP_CONFIRMED and e.subject in macs]
    if beacons_each < 3:
        assert confirmed == []


def test_group_bit_bssid_never_enters_the_inventory() -> None:
    frames = beacons("03:11:22:33:44:55", "Looks-Real", n=200)
    st, events = _state_feed(healthy() + frames)
    assert "03:11:22:33:44:55" not in st.aps
    assert [e.kind for e in events].count(w.AP_CONFIRMED) == 3
    assert st.impossible_frames == 200


def test_a_dense_office_starting_up_is_no_flood() -> None:
    """80 real APs (a third of them locally administered secondary BSSIDs of multi-SSID APs)
    appear within 12 s as the sensor starts; each keeps beaconing every 102.4 ms."""
    rng = random.Random(3)
    frames = []
    for i in range(80):
        mac = _mac(rng, "la" if i % 3 == 0 else "global")
        start = 1000.0 + i * 0.15
        frames += beacons(mac, f"office-{i}", n=60, t0=start, security="WPA2")
    st, events = _state_feed(frames)
    assert [e for e in events if e.kind == w.BEACON_FLOOD] == []
    assert len([a for a in st.take_dirty()]) == 80


def test_a_real_ap_appearing_during_a_flood_is_inventoried_once_it_outlives_it() -> None:
    frames, macs = flood("random", seconds=120, beacons_each=1)
    real = beacons("00:1a:2b:3c:4d:5e", "Cafe-Next-Door", n=1200, t0=1030.0)
    st, events = _state_feed(healthy() + frames + real)
    assert [e.kind for e in events].count(w.BEACON_FLOOD) >= 1
    assert "00:1a:2b:3c:4d:5e" in {e.subject for e in events if e.kind == w.AP_CONFIRMED}
    inventory = {a.bssid for a in st.take_dirty()}
    assert "00:1a:2b:3c:4d:5e" in inventory
    assert len(inventory & macs) <= 1


def test_generated_flood_capture_one_finding_and_no_fakes_stored(tmp_path: Path) -> None:
    """Through `officeguard ingest`: fully random BSSIDs, ten new a second for two minutes."""
    frames, macs = flood("random", seconds=120, beacons_each=2)
    doc = run(tmp_path, sorted(healthy() + frames))
    assert rules(doc) == [("wifi.beacon_flood", "3-8", "high", "beacon-flood")]
    ev = doc["findings"][0]["evidence"]
    assert ev["impossible_bssids"] > 0
    stored = {a["bssid"] for a in doc["access_points"]}
    assert {GUEST, STAFF} <= stored
    assert len(stored & macs) <= 1, sorted(stored & macs)


def test_fakes_written_before_the_flood_was_recognised_are_withdrawn(tmp_path: Path) -> None:
    """The live agent writes every second: fakes stored before the burst was judged (a new
    BSSID is judged `beacon_flood_judge_s` after it appears: 32 s with the default hop plan)
    are deleted from the store when it is."""
    cfg = Config.model_validate({"storage": {"data_dir": str(tmp_path / "data")}})
    store = Store(tmp_path / "og.db")
    try:
        pipe = Pipeline(cfg, store)
        assert pipe.wifi.s.beacon_flood_judge_s == 32.0  # 32 channels, 0.5 s each, twice
        frames, macs = flood("la", seconds=60, beacons_each=4)
        stored_midway = 0
        for i, (ts, data) in enumerate(sorted(healthy_for(70.0) + frames)):
            pipe.feed_raw(ts, 127, data)
            if i % 25 == 0:
                pipe.flush()
                if not stored_midway:
                    stored_midway = len({r["bssid"] for r in store.query(
                        "SELECT bssid FROM access_points")} & macs)
        pipe.flush()
        assert stored_midway > 0  # the test did write fakes before the flood was known
        left = {r["bssid"] for r in store.query("SELECT bssid FROM access_points")}
        assert left & macs == set()
        assert {GUEST, STAFF} <= left
    finally:
        store.close()


def healthy_for(seconds: float) -> list[tuple[float, bytes]]:
    """The facility's three APs, beaconing every 102.4 ms for SECONDS."""
    return healthy(n=int(seconds / 0.1024))


def dense_site(n: int = 2000, seconds: float = 60.0, seed: int = 5, hop_cycle_s: float = 0.0
               ) -> tuple[list[tuple[float, bytes]], set[str]]:
    """N real APs as a channel-hopping sensor starting among them hears them. Without a hop
    cycle: all first heard within 3 s, then about once a second each (0.5 to 1.5 s apart). With
    one: each heard for its channel's half-second dwell (up to five beacons 102.4 ms apart)
    once per cycle, its first dwell anywhere in the first cycle. A third use locally
    administered BSSIDs (the secondary BSSIDs of multi-SSID APs)."""
    rng = random.Random(seed)
    frames: list[tuple[float, bytes]] = []
    macs = set()
    for i in range(n):
        mac = _mac(rng, "la" if i % 3 == 0 else "global")
        macs.add(mac)
        data = g.radiotap(g.beacon(mac, f"floor-{i}", security="WPA2"), signal=-70)
        if hop_cycle_s:
            start = 1000.0 + rng.uniform(0, hop_cycle_s)
            for c in range(int(seconds / hop_cycle_s)):
                heard = rng.randint(1, 5)  # the dwell may catch only part of its beacons
                frames += [(start + c * hop_cycle_s + k * 0.1024, data) for k in range(heard)]
            continue
        t = 1000.0 + rng.uniform(0, 3.0)
        while t < 1000.0 + seconds:
            frames.append((t, data))
            t += rng.uniform(0.5, 1.5)
    return frames, macs


@pytest.mark.parametrize("hop_cycle_s", [0.0, 16.0])
def test_a_hopping_sensor_starting_in_a_dense_site_sees_no_flood(hop_cycle_s: float) -> None:
    """2,000 real APs, each heard a beacon or two at a time: no flood, every AP inventoried.
    The instant judgement (fewer than min_frames beacons when the burst crossed the threshold)
    called this a flood and hid every AP."""
    frames, macs = dense_site(hop_cycle_s=hop_cycle_s)
    st, events = _state_feed(frames, beacon_flood_judge_s=w.flood_judge_s(hop_cycle_s))
    assert [e.detail for e in events if e.kind == w.BEACON_FLOOD] == []
    inventory = {a.bssid for a in st.take_dirty()}
    assert inventory == macs
    assert st.take_withdrawn() == []


def test_a_flood_in_a_dense_site_is_one_flood_and_no_fake_is_inventoried() -> None:
    """The same dense site, and from its first second a flood tool: fully random and locally
    administered BSSIDs, 10 to 50 new a second, each beaconing one to four times."""
    real, real_macs = dense_site(seconds=50.0)
    rng = random.Random(11)
    frames, fakes = [], set()
    t = 1000.0
    while t < 1045.0:
        per_s = rng.randint(10, 50)
        for _ in range(per_s):
            mac = _mac(rng, rng.choice(("random", "la")))
            fakes.add(mac)
            data = g.radiotap(g.beacon(mac, f"free-{rng.randrange(10**6)}", security="OPEN"),
                              signal=-40)
            frames += [(t + k * 0.02, data) for k in range(rng.randint(1, 4))]
            t += 1.0 / per_s
    st, events = _state_feed(real + frames)
    floods = [e for e in events if e.kind == w.BEACON_FLOOD]
    assert len(floods) == 1, [e.detail for e in floods]
    assert floods[0].detail["suspect_share"] >= 0.5
    inventory = {a.bssid for a in st.take_dirty()}
    assert inventory & fakes == set()
    assert inventory == real_macs  # judged real before the flood was found: none held back


def test_a_short_burst_that_stops_is_still_found(tmp_path: Path) -> None:
    """300 fakes within 5 s and then nothing new: no new BSSID comes to judge them by, and the
    facility's own frames are only counted, so the judgement runs on the capture's clock
    (`officeguard ingest`; the live agent ticks every second)."""
    frames, macs = flood("la", seconds=5, per_s=60, beacons_each=2)
    doc = run(tmp_path, sorted(healthy_for(60.0) + frames))
    assert rules(doc) == [("wifi.beacon_flood", "3-8", "high", "beacon-flood")]
    stored = {a["bssid"] for a in doc["access_points"]}
    assert {GUEST, GUEST2, STAFF} <= stored
    assert stored & macs == set()


def test_new_bssids_waiting_to_be_judged_are_bounded() -> None:
    """More new BSSIDs within the judging delay than max_aps: the oldest are judged at once, on
    what is known of them, so memory stays bounded and the flood is found all the same."""
    frames, macs = flood("random", seconds=30, per_s=20, beacons_each=2)
    st, events = _state_feed(frames, max_aps=200, beacon_flood_judge_s=1000.0)
    assert [e.kind for e in events].count(w.BEACON_FLOOD) == 1
    assert len(st._pending) <= 200
    assert {a.bssid for a in st.take_dirty()} & macs == set()
