"""The radio testbed: one VM per test session (Debian's kernel, mac80211_hwsim radios), hostapd
access points, wpa_supplicant stations, a raw-socket injector, and the real `officeguard agent`
capturing live from a monitor-mode radio inside it, as the shipped user would run it (not root,
only CAP_NET_RAW and CAP_NET_ADMIN). The store is on the shared folder; the host checks it.

Skipped with the reason when the machine lacks what the VM needs (root, virtme-ng, QEMU, a kernel
with mac80211_hwsim); when OFFICEGUARD_TEST_RADIO=1 (`make test-radio`) a missing piece or a VM
that does not boot is a failure instead.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import sqlite3
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.radio.vm import GuestError, RadioVM, missing_prerequisites

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
INJECT = Path(__file__).resolve().with_name("inject.py")
RADIOS = 12
REQUIRED = os.environ.get("OFFICEGUARD_TEST_RADIO") == "1"
_RUNS = itertools.count(1)  # agent runs in this session (each module its own)
AGENT_UID = 65534  # nobody: an unprivileged user, like the shipped `officeguard`


def hwsim_mac(n: int) -> str:
    """mac80211_hwsim gives radio N the address 02:00:00:00:NN:00."""
    return f"02:00:00:00:{n:02x}:00"


def _skip_or_fail(why: str) -> None:
    if REQUIRED:
        pytest.fail(f"radio testbed unavailable: {why}")
    pytest.skip(f"radio testbed unavailable: {why}")


class Bed:
    """What a scenario does inside the VM."""

    def __init__(self, vm: RadioVM) -> None:
        self.vm = vm
        self.share = vm.share
        self.py = str(Path(sys.base_prefix, "bin", "python3"))

    # -- radios -----------------------------------------------------------------------------
    def reset_radios(self) -> None:
        """Every radio back to a managed interface that is down (between scenarios)."""
        script = "; ".join(
            f"ip link set wlan{n} down 2>/dev/null; iw dev wlan{n} set type managed 2>/dev/null"
            for n in range(RADIOS))
        self.vm.sh(script + "; true", timeout=self.vm.t(60, 60))

    def monitor(self, n: int, channel: int) -> str:
        """A monitor radio for the injector (the agent's radio is set up by the agent)."""
        iface = f"wlan{n}"
        self.vm.sh(f"ip link set {iface} down && iw dev {iface} set type monitor && "
                   f"ip link set {iface} up && iw dev {iface} set channel {channel}",
                   timeout=self.vm.t(30, 30))
        return iface

    # -- access points and stations -----------------------------------------------------------
    def ap(self, name: str, n: int, ssid: str, channel: int, extra: str = "") -> str:
        conf = self.share / f"{name}.conf"
        conf.write_text(f"interface=wlan{n}\ndriver=nl80211\nhw_mode=g\nchannel={channel}\n"
                        f"ssid={ssid}\nctrl_interface=/run/hostapd-{name}\n{extra}\n")
        log = self.vm.spawn(name, ["/usr/sbin/hostapd", str(conf)])
        self.vm.wait_for(lambda: "AP-ENABLED" in _read(log), self.vm.t(60, 60),
                         f"hostapd {name} to enable its AP ({_read(log)[-500:]})")
        return hwsim_mac(n)

    def station(self, name: str, n: int, network: str) -> Path:
        conf = self.share / f"{name}.conf"
        conf.write_text(f"ctrl_interface=/run/wpa-{name}\nnetwork={{\n{network}\n}}\n")
        return self.vm.spawn(name, ["/usr/sbin/wpa_supplicant", "-i", f"wlan{n}", "-D",
                                    "nl80211", "-c", str(conf)])

    # -- the agent ----------------------------------------------------------------------------
    def start_agent(self, monitor_n: int | None, config: str, lan: str = "") -> Agent:
        """The real agent, as the shipped user would run it. Its store lives in the guest's
        memory (SQLite's WAL needs shared memory that 9p cannot give) and is copied to the
        shared folder every second while it runs and once more after it stopped. Without
        MONITOR_N it has no Wi-Fi sensor; LAN names the interface its LAN sensor listens on
        (the isolation test: the wired side of the guest network)."""
        name = f"agent-{next(_RUNS)}"
        data = f"/tmp/og-{name}"  # the guest's own /tmp
        out = self.share / name
        out.mkdir()
        self.vm.sh(f"mkdir -p {data} && chown {AGENT_UID}:{AGENT_UID} {data}")
        cfg = self.share / f"{name}.toml"
        mon = "" if monitor_n is None else f"wlan{monitor_n}"
        cfg.write_text(f'[interfaces]\nmonitor = "{mon}"\nlan = "{lan}"\n'
                       f'[storage]\ndata_dir = "{data}"\nflush_interval_s = 1\n{config}')
        cfg.chmod(0o644)
        argv = ["/usr/bin/setpriv", f"--reuid={AGENT_UID}", f"--regid={AGENT_UID}",
                "--clear-groups", "--inh-caps=+net_raw,+net_admin",
                "--ambient-caps=+net_raw,+net_admin", "--",
                str(VENV_BIN / "officeguard"), "agent", "--config", str(cfg)]
        log = self.vm.spawn(name, argv, env={
            "PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "HOME": data})
        self.vm.spawn(f"{name}-mirror", ["/bin/sh", "-c", (
            f"while true; do for f in officeguard.db officeguard.db-wal; do "
            f"[ -f {data}/$f ] && cp {data}/$f {out}/.peek-$f.tmp && "
            f"mv {out}/.peek-$f.tmp {out}/peek-$f; done; sleep 1; done")])
        agent = Agent(self, name, data, out, log)
        self.vm.wait_for(lambda: "sensor wifi" in _read(log) or self.vm.poll(name) is not None,
                         self.vm.t(60, 120), f"the agent to start ({_read(log)[-800:]})",
                         every=0.5)
        text = _read(log)
        if monitor_n is not None and "sensor wifi  active" not in text:
            self.vm.stop(name)
            self.vm.stop(f"{name}-mirror")
            raise GuestError(f"the agent's Wi-Fi sensor did not start:\n{text[-2000:]}")
        return agent


def _read(p: Path) -> str:
    try:
        return p.read_text(errors="replace")
    except OSError:
        return ""


class Agent:
    def __init__(self, bed: Bed, name: str, data: str, out: Path, log: Path) -> None:
        self.bed, self.name, self.data, self.out, self.log = bed, name, data, out, log
        self.db = out / "officeguard.db"
        self.rc: int | None = None
        self.bssids: dict[str, str] = {}
        self.notes: dict[str, Any] = {}  # what a scenario measured on the way

    def peek(self, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        """Read the latest copy of the live store: for waiting only (a copy taken mid-write
        may be unreadable: then nothing is returned and the caller polls again); assertions
        read the store after stop()."""
        with tempfile.TemporaryDirectory() as tmp:
            for f in ("officeguard.db", "officeguard.db-wal"):
                src = self.out / f"peek-{f}"
                if src.exists():
                    shutil.copyfile(src, Path(tmp, f))
            if not Path(tmp, "officeguard.db").exists():
                return []
            try:
                conn = sqlite3.connect(Path(tmp, "officeguard.db"))
                conn.row_factory = sqlite3.Row
                try:
                    return [dict(r) for r in conn.execute(sql, params)]
                finally:
                    conn.close()
            except sqlite3.DatabaseError:
                return []

    def wait(self, cond: Callable[[], Any], what: str, units: float = 100,
             floor: float = 150) -> Any:
        def check() -> Any:
            if self.bed.vm.poll(self.name) is not None:
                raise GuestError(f"the agent stopped while waiting for {what}:\n"
                                 f"{_read(self.log)[-2000:]}")
            return cond()
        return self.bed.vm.wait_for(check, self.bed.vm.t(units, floor), what, every=1.0)

    def aps(self) -> dict[str, dict[str, Any]]:
        return {r["bssid"]: r for r in self.peek("SELECT * FROM access_points")}

    def stop(self) -> None:
        """Stop the agent (SIGTERM, as systemd does) and copy its store to the shared folder."""
        self.rc = self.bed.vm.stop(self.name)
        self.bed.vm.stop(f"{self.name}-mirror")
        self.bed.vm.sh(f"cp {self.data}/officeguard.db* {self.out}/")
        assert self.rc == 0, f"the agent exited with {self.rc}:\n{_read(self.log)[-2000:]}"

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        """The store as the agent left it (after stop())."""
        assert self.rc is not None, "stop the agent first"
        conn = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True)
        conn.row_factory = sqlite3.Row
        try:
            return [dict(r) for r in conn.execute(sql, params)]
        finally:
            conn.close()

    def findings(self, rule: str | None = None) -> list[dict[str, Any]]:
        rows = self.query("SELECT * FROM findings")
        for r in rows:
            r["evidence"] = json.loads(r["evidence"]) if r.get("evidence") else {}
        return [r for r in rows if rule is None or r["rule"] == rule]


@pytest.fixture(scope="package")
def radio_vm() -> Iterator[RadioVM]:
    why = missing_prerequisites()
    if why:
        _skip_or_fail(why)
    share = Path(tempfile.mkdtemp(prefix="og-radio-")) / "share"
    share.mkdir()
    share.parent.chmod(0o755)  # the agent runs as an unprivileged user in the guest
    vm = RadioVM(share)
    try:
        vm.boot()
        vm.sh(f"modprobe mac80211_hwsim radios={RADIOS}", timeout=vm.t(60, 120))
        vm.wait_for(lambda: "wlan" + str(RADIOS - 1) in vm.sh("ls /sys/class/net")["out"],
                    vm.t(60, 60), "the hwsim radios")
    except GuestError as exc:
        tail = vm.console_tail()
        vm.shutdown()
        _skip_or_fail(f"the VM did not come up: {exc}\n{tail}")
    print(f"\nradio VM: booted in {vm.boot_s:.0f} s; one interpreter start takes "
          f"{vm.unit:.1f} s in it")
    try:
        yield vm
    finally:
        vm.shutdown()
        shutil.rmtree(share.parent, ignore_errors=True)


@pytest.fixture(scope="module")
def bed(radio_vm: RadioVM) -> Iterator[Bed]:
    b = Bed(radio_vm)
    b.reset_radios()
    yield b
