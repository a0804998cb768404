"""Monitor-mode radios: can this adapter sniff, and which channel is it listening on.

Talks to the kernel through `iw` (Debian package `iw`). Parsing is pure and tested on real
`iw` output; the hopper is a stop-aware thread that never overlaps itself.
"""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

MONITOR_FILTER = (
    "type mgt subtype beacon or type mgt subtype probe-resp "
    "or type mgt subtype deauth or type mgt subtype disassoc"
)


@dataclass(frozen=True, slots=True)
class Phy:
    name: str
    modes: frozenset[str]
    channels: tuple[int, ...]  # enabled (not disabled) channels the radio can tune to

    @property
    def monitor(self) -> bool:
        return "monitor" in self.modes


@dataclass(frozen=True, slots=True)
class Iface:
    name: str
    phy: str
    type: str  # managed, monitor, AP, ...
    channel: int | None = None


def parse_iw_phy(text: str) -> list[Phy]:
    """`iw phy` (or `iw list`) output → radios with their interface modes and channels."""
    phys: list[Phy] = []
    name = ""
    modes: set[str] = set()
    channels: list[int] = []
    section = ""
    for raw in text.splitlines():
        m = re.match(r"^Wiphy (\S+)", raw)
        if m:
            if name:
                phys.append(Phy(name, frozenset(modes), tuple(channels)))
            name, modes, channels, section = m.group(1), set(), [], ""
            continue
        line = raw.strip()
        if line.startswith(("Supported interface modes:", "software interface modes")):
            section = "modes"
            continue
        if line.startswith("Frequencies:"):
            section = "freqs"
            continue
        if section == "modes":
            if line.startswith("* "):
                modes.add(line[2:].strip())
                continue
            section = ""
        if section == "freqs":
            fm = re.match(r"\* (\d+(?:\.\d+)?) MHz \[(\d+)\](.*)", line)
            if fm:
                if "disabled" not in fm.group(3):
                    channels.append(int(fm.group(2)))
                continue
            section = ""
    if name:
        phys.append(Phy(name, frozenset(modes), tuple(channels)))
    return phys


def parse_iw_dev(text: str) -> list[Iface]:
    """`iw dev` output → interfaces with their radio, type and channel."""
    out: list[Iface] = []
    phy = ""
    cur: dict[str, str] = {}

    def flush() -> None:
        if cur.get("name"):
            ch = cur.get("channel")
            out.append(Iface(cur["name"], phy, cur.get("type", ""),
                             int(ch) if ch and ch.isdigit() else None))

    for raw in text.splitlines():
        line = raw.strip()
        m = re.match(r"^phy#(\d+)", line)
        if m:
            flush()
            cur = {}
            phy = f"phy{m.group(1)}"
            continue
        m = re.match(r"^Interface (\S+)", line)
        if m:
            flush()
            cur = {"name": m.group(1)}
            continue
        if line.startswith("Unnamed/non-netdev interface"):
            flush()
            cur = {}
            continue
        m = re.match(r"^type (\S+)", line)
        if m and cur:
            cur["type"] = m.group(1)
        m = re.match(r"^channel (\d+)", line)
        if m and cur:
            cur["channel"] = m.group(1)
    flush()
    return out


Runner = Callable[[Sequence[str]], str]


def run_iw(args: Sequence[str]) -> str:
    exe = shutil.which("iw") or shutil.which("iw", path="/usr/sbin:/sbin")
    if exe is None:
        raise FileNotFoundError("the `iw` command is missing (Debian package iw)")
    res = subprocess.run([exe, *args], capture_output=True, text=True, timeout=10)
    if res.returncode != 0:
        raise OSError(res.stderr.strip() or f"iw {' '.join(args)} failed")
    return res.stdout


@dataclass(frozen=True, slots=True)
class MonitorCheck:
    ok: bool
    detail: str
    channels: tuple[int, ...] = ()
    fixable: bool = False  # a monitor-capable radio in another mode: enable_monitor() helps


def run_ip(args: Sequence[str]) -> str:
    exe = shutil.which("ip") or shutil.which("ip", path="/usr/sbin:/sbin") or "ip"
    res = subprocess.run([exe, *args], capture_output=True, text=True, timeout=10)
    if res.returncode != 0:
        raise OSError(res.stderr.strip() or f"ip {' '.join(args)} failed")
    return res.stdout


def enable_monitor(iface: str, iw: Runner = run_iw, ip: Runner = run_ip) -> None:
    """Put IFACE into monitor mode: down, `iw dev IFACE set type monitor`, up.

    The same steps as officeguard-monitor@.service; needs only CAP_NET_ADMIN, which the agent
    has, so the agent does it itself when the service was not enabled. Raises OSError (with
    iw's or ip's message) when the kernel refuses, e.g. while another program uses the radio.
    """
    ip(["link", "set", iface, "down"])
    try:
        iw(["dev", iface, "set", "type", "monitor"])
    finally:
        ip(["link", "set", iface, "up"])


def check_monitor(iface: str, iw: Runner = run_iw) -> MonitorCheck:
    """Can IFACE sniff Wi-Fi? Says exactly what to do when it cannot."""
    try:
        devs = parse_iw_dev(iw(["dev"]))
        phys = {p.name: p for p in parse_iw_phy(iw(["phy"]))}
    except FileNotFoundError as exc:
        return MonitorCheck(False, f"{exc}: install it (apt-get install iw)")
    except OSError as exc:
        return MonitorCheck(False, f"cannot query the radios with iw: {exc}")
    dev = next((d for d in devs if d.name == iface), None)
    if dev is None:
        known = ", ".join(f"{d.name} ({d.type})" for d in devs) or "none"
        return MonitorCheck(False, f"no Wi-Fi interface named {iface!r} (Wi-Fi interfaces: "
                            f"{known}); check interfaces.monitor")
    phy = phys.get(dev.phy)
    if phy is not None and not phy.monitor:
        return MonitorCheck(False, (
            f"{iface} ({dev.phy}) cannot do monitor mode: `iw phy` does not list 'monitor'. "
            "The Raspberry Pi's built-in radio (brcmfmac) is like this without patched "
            "firmware; plug in a USB Wi-Fi adapter that lists 'monitor' and use it"))
    if dev.type != "monitor":
        return MonitorCheck(False, (
            f"{iface} is in {dev.type or 'unknown'} mode, not monitor: enable "
            f"officeguard-monitor@{iface}.service, or run `iw dev {iface} set type monitor` "
            "while the interface is down"), fixable=phy is not None and phy.monitor)
    return MonitorCheck(True, f"{iface} is in monitor mode on {dev.phy}",
                        phy.channels if phy else ())


@dataclass
class ChannelHopper:
    """Tunes a monitor interface through a channel list, one dwell at a time."""

    iface: str
    channels: Sequence[int]
    dwell_s: float
    iw: Runner = run_iw
    stop: threading.Event = field(default_factory=threading.Event)
    current: int | None = None
    errors: int = 0
    _thread: threading.Thread | None = None

    def tune(self, channel: int) -> bool:
        try:
            self.iw(["dev", self.iface, "set", "channel", str(channel)])
        except (OSError, FileNotFoundError) as exc:
            self.errors += 1
            if self.errors <= 3 or self.errors % 100 == 0:
                log.warning("could not tune %s to channel %d: %s", self.iface, channel, exc)
            return False
        self.current = channel
        return True

    def run(self) -> None:
        chans = list(self.channels)
        if not chans:
            return
        if len(chans) == 1:
            self.tune(chans[0])
            return
        i = 0
        while not self.stop.is_set():
            self.tune(chans[i % len(chans)])
            i += 1
            self.stop.wait(self.dwell_s)

    def start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self.run, name="channel-hopper",
                                            daemon=True)
            self._thread.start()

    def close(self) -> None:
        self.stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)


def hop_plan(wanted_24: Sequence[int], wanted_5: Sequence[int], fixed: int,
             supported: Sequence[int]) -> list[int]:
    """The channels to visit: the configured ones the radio supports (or the fixed one)."""
    if fixed:
        return [fixed]
    ok = set(supported) if supported else None
    return [c for c in (*wanted_24, *wanted_5) if ok is None or c in ok]
