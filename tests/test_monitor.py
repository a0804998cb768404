"""Monitor-mode radios: iw parsing, the preflight's advice, the channel hopper, the BPF filter,
and the live agent with a fake radio (the only thing faked: this machine has no Wi-Fi)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from agent.capture import Frame, read_frames, write_pcap
from agent.monitor import (
    MONITOR_FILTER,
    ChannelHopper,
    check_monitor,
    enable_monitor,
    hop_plan,
    parse_iw_dev,
    parse_iw_phy,
)
from agent.runner import Agent, preflight
from appliance.config import Config
from appliance.store import Store
from tests import wifigen as g

DATA = Path(__file__).parent / "data"
USB = (DATA / "iw_phy_usb_monitor.txt").read_text()
PI = (DATA / "iw_phy_pi_brcmfmac.txt").read_text()
DEV = (DATA / "iw_dev.txt").read_text()


def fake_iw(phy_text: str, dev_text: str = DEV, calls: list[list[str]] | None = None):  # noqa: ANN201
    def run(args: Sequence[str]) -> str:
        if calls is not None:
            calls.append(list(args))
        if list(args) == ["phy"]:
            return phy_text
        if list(args) == ["dev"]:
            return dev_text
        if len(args) == 4 and args[2] == "set" and args[3] != "":
            return ""
        raise OSError(f"unexpected iw {args}")
    return run


def test_parse_iw_phy() -> None:
    [usb] = parse_iw_phy(USB)
    assert usb.name == "phy1" and usb.monitor
    assert usb.channels[:3] == (1, 2, 3) and 14 not in usb.channels and 149 not in usb.channels
    assert 36 in usb.channels and 52 in usb.channels
    [pi] = parse_iw_phy(PI)
    assert not pi.monitor and "AP" in pi.modes


def test_parse_iw_dev() -> None:
    devs = {d.name: d for d in parse_iw_dev(DEV)}
    assert set(devs) == {"wlan1mon", "wlan0"}
    assert (devs["wlan1mon"].phy, devs["wlan1mon"].type, devs["wlan1mon"].channel) == (
        "phy1", "monitor", 6)
    assert (devs["wlan0"].phy, devs["wlan0"].type) == ("phy0", "managed")


def test_check_monitor_advice() -> None:
    both = USB + PI
    ok = check_monitor("wlan1mon", fake_iw(both))
    assert ok.ok and 6 in ok.channels
    pi = check_monitor("wlan0", fake_iw(both))
    assert not pi.ok and "cannot do monitor mode" in pi.detail and "USB" in pi.detail
    managed = check_monitor("wlan1mon", fake_iw(both, DEV.replace("type monitor",
                                                                  "type managed")))
    assert not managed.ok and "officeguard-monitor@wlan1mon" in managed.detail
    missing = check_monitor("wlan9", fake_iw(both))
    assert not missing.ok and "no Wi-Fi interface named 'wlan9'" in missing.detail

    def no_iw(_args: Sequence[str]) -> str:
        raise FileNotFoundError("the `iw` command is missing (Debian package iw)")

    assert "apt-get install iw" in check_monitor("wlan1mon", no_iw).detail


def test_hop_plan() -> None:
    assert hop_plan([1, 6, 11, 14], [36, 149], 0, [1, 6, 11, 36]) == [1, 6, 11, 36]
    assert hop_plan([1, 6], [36], 11, [1, 6]) == [11]
    assert hop_plan([1], [36], 0, []) == [1, 36]


def test_channel_hopper_visits_channels_in_turn() -> None:
    calls: list[list[str]] = []
    h = ChannelHopper("wlan1mon", [1, 6, 11], 0.02, fake_iw(USB, calls=calls))
    h.start()
    time.sleep(0.25)
    h.close()
    tuned = [int(c[-1]) for c in calls if c[:3] == ["dev", "wlan1mon", "set"]]
    assert len(tuned) >= 6
    assert tuned[:6] == [1, 6, 11, 1, 6, 11]
    fixed: list[list[str]] = []
    h2 = ChannelHopper("wlan1mon", [11], 0.02, fake_iw(USB, calls=fixed))
    h2.start()
    time.sleep(0.1)
    h2.close()
    assert [c for c in fixed if "set" in c] == [["dev", "wlan1mon", "set", "channel", "11"]]


def test_preflight_reports_the_radio(tmp_path: Path) -> None:
    cfg = Config.model_validate({"interfaces": {"monitor": "wlan0", "lan": "lo"}})
    sensors, _ = preflight(cfg, fake_iw(USB + PI))
    wifi = next(s for s in sensors if s.name == "wifi")
    assert not wifi.active and "brcmfmac" in wifi.detail
    cfg = Config.model_validate({"interfaces": {"monitor": "wlan1mon", "lan": "lo"},
                                 "wifi": {"fixed_channel": 6}})
    sensors, ctx = preflight(cfg, fake_iw(USB + PI))
    wifi = next(s for s in sensors if s.name == "wifi")
    if os.geteuid() == 0:
        assert wifi.active and "fixed on channel 6" in wifi.detail
        assert ctx["wifi_channels"] == [6]


@pytest.mark.skipif(shutil.which("tcpdump") is None, reason="needs tcpdump (make test installs it)")
def test_kernel_filter_passes_only_what_the_sensor_uses(tmp_path: Path) -> None:
    """The capture filter, compiled by the same libpcap, applied by tcpdump to every kind."""
    b = "02:00:5e:10:00:01"
    frames = [(1.0, g.radiotap(g.beacon(b, "A"))), (1.1, g.radiotap(g.beacon(b, "A", subtype=5))),
              (1.2, g.radiotap(g.deauth(b, "02:00:5e:99:00:01"))),
              (1.3, g.radiotap(g.deauth(b, "02:00:5e:99:00:01", subtype=10))),
              (1.4, g.radiotap(g.data_frame(b, "02:00:5e:99:00:01"))),
              (1.5, g.radiotap(g.beacon(b, "A", subtype=4))),  # probe request: dropped
              (1.6, g.radiotap(bytes([0xD4, 0]) + b"\x00" * 8))]  # ACK: dropped
    src, out = tmp_path / "all.pcap", tmp_path / "kept.pcap"
    write_pcap(src, 127, frames)
    subprocess.run(["tcpdump", "-r", str(src), "-w", str(out), MONITOR_FILTER], check=True,
                   capture_output=True)
    assert [round(f.ts, 1) for f in read_frames(out)] == [1.0, 1.1, 1.2, 1.3]


class FakeRadio:
    """Delivers radiotap frames to the agent through a real file descriptor, in real time."""

    def __init__(self) -> None:
        self._r, self._w = socket.socketpair()
        self._r.setblocking(False)
        self._q: deque[Frame] = deque()
        self._lock = threading.Lock()

    def send(self, frames: list[bytes]) -> None:
        with self._lock:
            for f in frames:
                self._q.append(Frame(time.time(), 127, f))
        self._w.send(b"x")

    def fileno(self) -> int:
        return self._r.fileno()

    def read(self) -> Frame | None:
        with self._lock:
            if self._q:
                return self._q.popleft()
        with contextlib.suppress(BlockingIOError):
            self._r.recv(4096)
        return None

    def close(self) -> None:
        self._r.close()
        self._w.close()


@contextlib.contextmanager
def running_agent(cfg: Config, store: Store, radio: FakeRadio, **kw: object) -> Iterator[Agent]:
    """The real agent loop on a thread, fed by the fake radio; stopped and joined on exit."""
    agent = Agent(cfg, store, iw=fake_iw(USB), wifi_source=radio, **kw)  # type: ignore[arg-type]
    t = threading.Thread(target=agent.run)
    t.start()
    try:
        yield agent
    finally:
        agent.stop.set()
        t.join(10)
        radio.close()


def test_live_agent_with_a_radio(tmp_path: Path) -> None:
    guest = "02:00:5e:10:00:01"
    evil = "00:13:37:00:00:66"
    cfg = Config.model_validate({
        "facility": {"ssids": [{"name": "Shibuya-Guest", "bssids": [guest]}]},
        "interfaces": {"lan": "nonexistent0", "monitor": "wlan1mon"},
        "storage": {"data_dir": str(tmp_path), "flush_interval_s": 1}})
    radio = FakeRadio()
    with Store(tmp_path / "officeguard.db") as store:
        with running_agent(cfg, store, radio):
            radio.send([g.radiotap(g.beacon(guest, "Shibuya-Guest", pmf=True))] * 5)
            t0 = time.monotonic()
            radio.send([g.radiotap(g.beacon(evil, "Shibuya-Guest", security="OPEN"))] * 5)

            def found() -> bool:
                return bool(store.query("SELECT 1 FROM findings WHERE rule = 'wifi.rogue_ap'"))

            while not found() and time.monotonic() - t0 < 5:
                time.sleep(0.02)
            assert found(), "no rogue AP finding"
            assert time.monotonic() - t0 < 2.0
            aps = {r["bssid"] for r in store.query("SELECT bssid FROM access_points")}
            assert aps == {guest, evil}
        doc = json.loads(store.get_meta("agent") or "{}")
        wifi = next(s for s in doc["sensors"] if s["name"] == "wifi")
        assert wifi["active"] and doc["wifi_frames"] == 10


def test_live_survey_session(tmp_path: Path) -> None:
    """A manager starts a labelled survey; the running agent records the facility's signal
    there, and when it ends the strong BSSID is a leakage finding, the weak one is not."""
    strong, weak = "02:00:5e:10:00:01", "02:00:5e:10:00:02"
    cfg = Config.model_validate({
        "facility": {"ssids": [{"name": "Shibuya-Guest", "bssids": [strong, weak]}]},
        "interfaces": {"lan": "nonexistent0", "monitor": "wlan1mon"},
        "storage": {"data_dir": str(tmp_path), "flush_interval_s": 1}})
    radio = FakeRadio()
    with Store(tmp_path / "officeguard.db") as store:
        with running_agent(cfg, store, radio):
            from agent import survey

            sid = store.write(lambda c: survey.start(c, "street side", -75.0, seconds=1.5))
            time.sleep(1.2)  # the agent picks the survey up within a second
            radio.send([g.radiotap(g.beacon(strong, "Shibuya-Guest", pmf=True), signal=-60)
                        for _ in range(5)]
                       + [g.radiotap(g.beacon(weak, "Shibuya-Guest", pmf=True), signal=-88)
                          for _ in range(5)])
            deadline = time.monotonic() + 6
            while time.monotonic() < deadline and not store.query(
                    "SELECT 1 FROM findings WHERE rule = 'wifi.signal_leakage'"):
                time.sleep(0.05)
        rows = store.query("SELECT subject, severity, evidence FROM findings "
                           "WHERE rule = 'wifi.signal_leakage'")
        assert [r["subject"] for r in rows] == [f"{strong} @ street side"]
        assert '"rssi_mean_dbm": -60.0' in rows[0]["evidence"]
        samples = store.query("SELECT bssid, n FROM survey_samples WHERE survey_id = ?", (sid,))
        assert {r["bssid"]: r["n"] for r in samples} == {strong: 5, weak: 5}


def test_nothing_is_recorded_before_the_clock_is_set(tmp_path: Path) -> None:
    """A Pi boots with a 1970 clock: frames then are skipped, none stored with a wrong date."""
    guest = "02:00:5e:10:00:01"
    cfg = Config.model_validate({
        "interfaces": {"lan": "nonexistent0", "monitor": "wlan1mon"},
        "storage": {"data_dir": str(tmp_path), "flush_interval_s": 1}})
    radio = FakeRadio()
    ntp_done = threading.Event()

    def clock() -> float:
        return time.time() if ntp_done.is_set() else 86400.0  # 1970-01-02 until "NTP"

    with Store(tmp_path / "officeguard.db") as store:
        with running_agent(cfg, store, radio, clock=clock) as agent:
            radio.send([g.radiotap(g.beacon(guest, "Early"))] * 5)
            time.sleep(1.0)
            assert store.query("SELECT COUNT(*) AS n FROM access_points")[0]["n"] == 0
            assert agent.frames_before_clock == 5
            ntp_done.set()
            radio.send([g.radiotap(g.beacon(guest, "Shibuya-Guest"))] * 5)
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and not store.query(
                    "SELECT 1 FROM access_points"):
                time.sleep(0.05)
        [ap] = store.query("SELECT ssid, beacons, first_seen FROM access_points")
        assert ap["ssid"] == "Shibuya-Guest" and ap["beacons"] == 5
        assert ap["first_seen"] > 1.7e9  # a real date


def test_enable_monitor_steps_and_preflight_uses_them() -> None:
    """A monitor-capable radio left in managed mode: the agent puts it into monitor mode itself
    (down, set type monitor, up: what officeguard-monitor@ does) and checks again. The live
    path runs in tests/radio against a real hwsim radio."""
    state = {"type": "managed"}
    calls: list[list[str]] = []

    def iw(args: Sequence[str]) -> str:
        calls.append(["iw", *args])
        if list(args) == ["phy"]:
            return USB
        if list(args) == ["dev"]:
            return DEV.replace("type monitor", f"type {state['type']}")
        if list(args) == ["dev", "wlan1mon", "set", "type", "monitor"]:
            state["type"] = "monitor"
            return ""
        raise OSError(f"unexpected iw {args}")

    def ip(args: Sequence[str]) -> str:
        calls.append(["ip", *args])
        return ""

    cfg = Config.model_validate({"interfaces": {"monitor": "wlan1mon", "lan": "lo"}})
    sensors, _ = preflight(cfg, iw, setup=lambda i: enable_monitor(i, iw, ip))
    steps = [c for c in calls if c[0] == "ip" or "set" in c]
    assert steps == [["ip", "link", "set", "wlan1mon", "down"],
                     ["iw", "dev", "wlan1mon", "set", "type", "monitor"],
                     ["ip", "link", "set", "wlan1mon", "up"]]
    wifi = next(s for s in sensors if s.name == "wifi")
    assert "monitor mode on phy1" in wifi.detail or not wifi.active  # capture rights vary
    # a refusal (the radio is busy) leaves the sensor off with the original advice
    state["type"] = "managed"

    def refuse(args: Sequence[str]) -> str:
        if "type" in args:
            raise OSError("Device or resource busy (-16)")
        return iw(args)

    sensors, _ = preflight(cfg, refuse, setup=lambda i: enable_monitor(i, refuse, ip))
    wifi = next(s for s in sensors if s.name == "wifi")
    assert not wifi.active and "officeguard-monitor@wlan1mon" in wifi.detail
