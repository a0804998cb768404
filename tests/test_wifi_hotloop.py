"""The pipeline's hot loop (`Pipeline.feed_records`) counts a beacon that repeats its AP's content
without the Wi-Fi state's whole path. It must come to exactly what the whole path does, frame
for frame: the same AP records, events and findings in the store, for streams that change what
an AP says (security downgrades and a flip back, SSID and channel changes, a TIM that cycles,
FCS at the end, malformed elements, probe responses revealing a hidden SSID, a beacon flood
whose APs are held back and released), with deauthentications and data frames between them."""

from __future__ import annotations

import dataclasses
import random
import sqlite3
from pathlib import Path
from typing import Any

from agent.pipeline import Pipeline
from appliance.config import Config
from appliance.store import Store
from tests import wifigen as g

T0 = 1_767_225_600.0  # 2026-01-01


def _frame(bssid: str, ssid: str, n: int, *, security: str = "WPA2", channel: int = 6,
           freq: int | None = None, fcs: bool = False, subtype: int = 8, extra: bytes = b"",
           tim: bool = True) -> bytes:
    f = g.beacon(bssid, ssid, channel=channel, security=security, subtype=subtype,
                 extra=extra, tim=bytes([n % 3, 3, 0, n % 5]) if tim and subtype == 8 else None,
                 da="02:00:5e:00:53:99" if subtype == 5 else "ff:ff:ff:ff:ff:ff")
    f = f[:22] + bytes([(n << 4) & 0xF0, (n >> 4) & 0xFF]) + f[24:]  # sequence number moves
    return g.radiotap(f, freq=freq or (2407 + 5 * channel), signal=-40 - n % 30, fcs=fcs,
                      tsft=n)


def stream(seed: int = 7) -> list[tuple[float, int, bytes]]:
    """About 6,000 frames of several APs over ten minutes, in time order."""
    rnd = random.Random(seed)
    out: list[tuple[float, bytes]] = []

    def every(start: float, stop: float, step: float, make: Any) -> None:
        t, n = start, 0
        while t < stop:
            out.append((T0 + t + rnd.random() * 0.01, make(n, t)))
            t += step
            n += 1

    steady = "02:00:5e:00:53:01"
    every(0, 600, 0.5, lambda n, t: _frame(steady, "Office", n))
    every(0.2, 600, 2.0, lambda n, t: _frame(steady, "Office", n, subtype=5))
    # a downgrade to open, then the old profile again: two transmitters on one BSSID
    flip = "02:00:5e:00:53:02"
    every(0, 600, 0.5, lambda n, t: _frame(
        flip, "Staff", n, security="OPEN" if 200 <= t < 400 else "WPA2"))
    # two transmitters on one BSSID, beacon after beacon for a while (a spoofer beside the
    # real AP), then the real one alone again
    twin = "02:00:5e:00:53:08"
    every(0, 600, 0.5, lambda n, t: _frame(
        twin, "Guest", n, security="OPEN" if 250 <= t < 260 and n % 2 else "WPA2"))
    # renamed, then moved to another channel (same elements, other frequency, then other DS)
    moved = "02:00:5e:00:53:03"
    every(0, 600, 0.5, lambda n, t: _frame(
        moved, "Lobby" if t < 150 else "Lobby-2", n, channel=1 if t < 300 else 11,
        freq=2412 if t < 250 else 2437 if t < 300 else None))
    # FCS at the end of every frame, and WPS appearing half-way
    every(0, 600, 0.5, lambda n, t: _frame(
        "02:00:5e:00:53:04", "Print", n, fcs=True,
        extra=g.wps(state=2) if t >= 300 else b""))
    # a truncated element at the end: malformed, counted every time
    every(0, 600, 1.0, lambda n, t: _frame(
        "02:00:5e:00:53:05", "Broken", n, extra=b"\xdd\x09\x00\x50"))
    # hidden in beacons, named in probe responses
    hidden = "02:00:5e:00:53:06"
    every(0, 600, 0.5, lambda n, t: _frame(hidden, "", n))
    every(1, 600, 5.0, lambda n, t: _frame(hidden, "Backstage", n, subtype=5))
    # a beacon flood 100 s in: 120 fakes in 10 s, each beaconing a few times, and one real AP
    # that appears during it and stays (held back, then released)
    for i in range(120):
        mac = f"{rnd.randrange(256) | 0x02 & ~0x01:02x}:" + ":".join(
            f"{rnd.randrange(256):02x}" for _ in range(5))
        t0 = 100 + i / 12
        for k in range(2):
            out.append((T0 + t0 + k * 0.1, _frame(mac, f"free-{i}", k)))
    every(104, 600, 0.5, lambda n, t: _frame("02:00:5e:00:53:07", "Late", n))
    every(0, 600, 0.7, lambda n, t: g.radiotap(
        g.data_frame(steady, "02:00:5e:00:53:aa", size=60 + n % 50), freq=2437))
    every(300, 303, 0.02, lambda n, t: g.radiotap(g.deauth(flip, "02:00:5e:00:53:bb"),
                                                  freq=2437))
    # the steady AP's beacon under a radiotap header of another version (the whole path
    # drops it: so must the hot loop), and cut short inside and just after the header
    every(50, 60, 0.3, lambda n, t: b"\x01" + _frame(steady, "Office", n)[1:])
    every(60, 70, 0.3, lambda n, t: _frame(steady, "Office", n)[:6 + n % 40])
    out.sort(key=lambda x: x[0])
    return [(ts, 127, data) for ts, data in out]


def _tables(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    conn = sqlite3.connect(db)
    try:
        return {
            "aps": conn.execute("SELECT * FROM access_points ORDER BY bssid").fetchall(),
            "events": conn.execute("SELECT ts, sensor, kind, subject, detail FROM events "
                                   "ORDER BY ts, kind, subject").fetchall(),
            "findings": conn.execute("SELECT rule, subject, severity, status, count, "
                                     "first_seen, last_seen, evidence FROM findings "
                                     "ORDER BY rule, subject").fetchall(),
        }
    finally:
        conn.close()


def _run(tmp: Path, name: str, frames: list[tuple[float, int, bytes]], hot: bool,
         max_aps: int | None = None, agent_writes: bool = False
         ) -> tuple[dict[str, list[tuple[Any, ...]]], int]:
    cfg = Config.model_validate({"storage": {"data_dir": str(tmp / name)}})
    store = Store(tmp / f"{name}.db")
    whole = 0
    try:
        pipe = Pipeline(cfg, store)
        if max_aps is not None:
            pipe.wifi.s = dataclasses.replace(pipe.wifi.s, max_aps=max_aps)
        dispatch = pipe._dispatch

        def counted(ts: float, lt: int, data: bytes) -> None:
            nonlocal whole
            whole += 1
            dispatch(ts, lt, data)

        pipe._dispatch = counted  # type: ignore[method-assign,assignment]
        for i in range(0, len(frames), 500):  # flushes between batches, as the agent does
            chunk = frames[i:i + 500]
            if hot:
                pipe.feed_records(chunk)
            else:
                for ts, lt, data in chunk:  # the whole path, frame by frame
                    pipe.report.frames += 1
                    counted(ts, lt, data)
            pipe.tick(chunk[-1][0])  # the agent's clock: new BSSIDs judged
            # the hot side writes as an ingest does (APs whose counters alone moved wait for
            # the last write), the reference as the agent does (every AP it heard, each time)
            # (or both as the agent does: which APs are evicted depends on what was written)
            pipe.flush(wait=not hot or agent_writes, counters=not hot or agent_writes)
        pipe.flush()
        assert pipe.report.undecodable == 0
    finally:
        store.close()
    return _tables(tmp / f"{name}.db"), whole


def test_hot_loop_comes_to_what_the_whole_path_does(tmp_path: Path) -> None:
    frames = stream()
    hot, whole_hot = _run(tmp_path, "hot", frames, hot=True)
    ref, whole_ref = _run(tmp_path, "ref", frames, hot=False)
    assert whole_ref == len(frames)
    # the hot loop did count most frames itself (or this test would prove nothing)
    assert whole_hot < len(frames) * 0.4, (whole_hot, len(frames))
    assert hot["aps"] == ref["aps"]
    assert hot["events"] == ref["events"]
    assert hot["findings"] == ref["findings"]
    # and the stream did exercise what it is meant to
    kinds = {r[2] for r in ref["events"]}
    assert {"ap_confirmed", "ap_changed", "beacon_flood", "deauth_flood"} <= kinds, kinds
    changed = [r for r in ref["events"] if r[2] == "ap_changed"]
    details = " ".join(r[4] for r in changed)
    for what in ("conflict", "ssid", "channel", "wps"):
        assert what in details, (what, details)
    rows = {r[0]: r for r in ref["aps"]}
    assert "02:00:5e:00:53:07" in rows  # released after the flood
    assert len(rows) <= 10  # the flood's fakes stayed out


def test_hot_loop_goes_on_after_a_parser_error(tmp_path: Path) -> None:
    """A frame the whole path cannot handle is counted as undecodable and the loop carries on
    with the next one (the iterator is resumed, nothing is read twice or skipped)."""
    cfg = Config.model_validate({"storage": {"data_dir": str(tmp_path / "d")}})
    store = Store(tmp_path / "og.db")
    try:
        pipe = Pipeline(cfg, store)
        frames = stream()[:300]
        dispatch = pipe._dispatch
        seen: list[float] = []

        def flaky(ts: float, lt: int, data: bytes) -> None:
            seen.append(ts)
            if len(seen) % 10 == 0:
                raise ValueError("a parser bug")
            dispatch(ts, lt, data)

        pipe._dispatch = flaky  # type: ignore[method-assign,assignment]
        pipe.feed_records(iter(frames))
        assert pipe.report.frames == 300
        assert pipe.report.undecodable == len(seen) // 10 > 0
        assert seen == sorted(seen) and len(set(seen)) == len(seen)
    finally:
        store.close()


def test_hot_loop_after_eviction(tmp_path: Path) -> None:
    """With room for ten APs, three groups of six take turns: the oldest are evicted while
    newer ones arrive, and come back later. The hot loop finds APs by their address bytes; an
    evicted AP must not be counted there (it would be lost), but heard again through the whole
    path."""
    rnd = random.Random(3)
    out: list[tuple[float, int, bytes]] = []
    t = T0
    for rnd_round in range(6):
        group = range(6 * (rnd_round % 3), 6 * (rnd_round % 3) + 6)
        for n in range(400):
            i = rnd.choice(group)
            t += 0.05
            out.append((t, 127, _frame(f"02:00:5e:00:54:{i:02x}", f"Room-{i}", n)))
    hot, whole_hot = _run(tmp_path, "hot", out, hot=True, max_aps=10, agent_writes=True)
    ref, _ = _run(tmp_path, "ref", out, hot=False, max_aps=10, agent_writes=True)
    assert whole_hot < len(out) * 0.5, (whole_hot, len(out))
    assert hot["aps"] == ref["aps"]
    assert hot["events"] == ref["events"]
    # APs were evicted and heard again (more APs written than the table holds)
    assert len(ref["aps"]) > 10, len(ref["aps"])


def test_a_damaged_address_in_the_store_takes_the_whole_path(tmp_path: Path) -> None:
    """An AP row whose address is not six hex bytes (a damaged or foreign database) is restored
    without the hot loop's index: the agent starts, and frames are still counted; a row whose
    first sighting is after its last is restored with both in order."""
    cfg = Config.model_validate({"storage": {"data_dir": str(tmp_path / "d")}})
    store = Store(tmp_path / "og.db")
    try:
        pipe = Pipeline(cfg, store)
        frames = stream()[:400]
        pipe.feed_records(frames)
        pipe.flush()
        store.write(lambda c: c.execute(
            "UPDATE access_points SET bssid = 'not-a-mac' WHERE bssid = ?",
            ("02:00:5e:00:53:01",)))
        store.write(lambda c: c.execute(  # and one whose first sighting is after its last
            "UPDATE access_points SET first_seen = last_seen + 1000 WHERE bssid = ?",
            ("02:00:5e:00:53:02",)))
        again = Pipeline(cfg, store)
        again.restore()  # must not raise
        assert "not-a-mac" in again.wifi.aps
        again.feed_records(stream()[400:800])  # later frames
        assert again.report.frames == 400 and again.report.undecodable == 0
        fixed = again.wifi.aps["02:00:5e:00:53:02"]
        assert fixed.first_seen <= fixed.last_seen
    finally:
        store.close()
