"""The appliance's own station on the guest Wi-Fi (`[probe.guest_wifi]`), started by the agent.

The isolation job (3-⑤ client isolation, 3-⑥ guest/business separation) must run from the guest
network as a guest would. The agent joins it with `wpa_supplicant` as its own child process:

1. the passphrase is read from `passphrase_file` (refused when every user may read it);
2. a wpa_supplicant configuration is written, mode 0600, under the data directory
   (`guest-wifi/`); for WPA-PSK it holds the derived 256-bit PSK, never the passphrase;
3. `wpa_supplicant -i IFACE -D nl80211 -c CONF` runs until the agent stops, and its control
   socket is asked for the state until it is COMPLETED or `join_timeout_s` passes;
4. the address: `address` from the configuration is put on the interface (`ip addr replace`),
   or, when it is empty, the agent waits for one from the operating system's DHCP client.

Every step that fails leaves the station inactive with the reason in the agent's sensor list
(preflight log, status, dashboard); nothing is retried in silence. The agent's privileges
(CAP_NET_ADMIN + CAP_NET_RAW) are what wpa_supplicant and `ip` need; wpa_supplicant is stopped
with the agent.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

from appliance.config import ConfigError, GuestWifi, read_secret

log = logging.getLogger(__name__)

SENSOR = "guest_wifi"
WPA_SUPPLICANT = ("/usr/sbin/wpa_supplicant", "/sbin/wpa_supplicant")
IP = ("/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip")

OnState = Callable[[bool, str], None]


class StationError(Exception):
    """Why the station is not on the guest network, in words for the operator."""


def _exe(candidates: tuple[str, ...], name: str) -> str:
    for c in candidates:
        if os.access(c, os.X_OK):
            return c
    found = shutil.which(name)
    if found:
        return found
    raise StationError(f"{name} is not installed (Debian package "
                       f"{'wpasupplicant' if name == 'wpa_supplicant' else 'iproute2'})")


def _printable(v: str, what: str) -> str:
    if any(ord(c) < 0x20 or ord(c) > 0x7E for c in v):
        raise StationError(f"{what} must be printable ASCII (no control characters)")
    return v


def wpa_config(cfg: GuestWifi, passphrase: str, ctrl_dir: Path) -> str:
    """The wpa_supplicant configuration for CFG (pure). The SSID is written in hex, so no
    character of it needs quoting; for WPA-PSK the PSK is derived here (PBKDF2, as
    wpa_passphrase does) so the file never holds the passphrase."""
    ssid = cfg.ssid.encode()
    lines = [f"ctrl_interface={ctrl_dir}", "network={", f"\tssid={ssid.hex()}",
             "\tscan_ssid=1"]
    if cfg.key_mgmt == "NONE":
        lines.append("\tkey_mgmt=NONE")
    else:
        if not 8 <= len(passphrase) <= 63:
            raise StationError(f"the passphrase in {cfg.passphrase_file} must be 8 to 63 "
                               f"characters (it has {len(passphrase)})")
        _printable(passphrase, f"the passphrase in {cfg.passphrase_file}")
        if cfg.key_mgmt == "WPA-PSK":
            psk = hashlib.pbkdf2_hmac("sha1", passphrase.encode(), ssid, 4096, 32)
            lines += ["\tkey_mgmt=WPA-PSK", f"\tpsk={psk.hex()}"]
        else:  # SAE derives its key per session from the password itself
            if '"' in passphrase:
                raise StationError(f"the passphrase in {cfg.passphrase_file} must not "
                                   'contain a double quote (")')
            lines += ["\tkey_mgmt=SAE", "\tieee80211w=2", f'\tsae_password="{passphrase}"']
    lines.append("}")
    return "\n".join(lines) + "\n"


def write_private(path: Path, text: str) -> None:
    """Write TEXT to PATH with mode 0600 from the first byte (never readable by others)."""
    tmp = path.with_suffix(".tmp")
    if tmp.exists():
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def ctrl_request(ctrl_dir: Path, iface: str, cmd: str, timeout: float = 2.0) -> str:
    """One request on wpa_supplicant's control socket (what wpa_cli does)."""
    local = ctrl_dir.parent / f"client-{os.getpid()}-{threading.get_ident()}"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        local.unlink(missing_ok=True)
        s.bind(str(local))
        s.settimeout(timeout)
        s.sendto(cmd.encode(), str(ctrl_dir / iface))
        return s.recv(8192).decode(errors="replace")
    finally:
        s.close()
        local.unlink(missing_ok=True)


def status_fields(text: str) -> dict[str, str]:
    """wpa_supplicant's STATUS reply (key=value lines) as a dict (pure)."""
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def ipv4_addresses(iface: str) -> list[str]:
    """The interface's IPv4 addresses (from the kernel, via `ip -4 -o addr show`)."""
    r = subprocess.run([_exe(IP, "ip"), "-4", "-o", "addr", "show", "dev", iface],
                       capture_output=True, text=True, timeout=10, check=False)
    out = []
    for line in r.stdout.splitlines():
        parts = line.split()
        if "inet" in parts:
            out.append(parts[parts.index("inet") + 1])
    return out


class GuestStation:
    """wpa_supplicant on the guest interface, owned by the agent."""

    def __init__(self, cfg: GuestWifi, data_dir: Path) -> None:
        self.cfg = cfg
        self.dir = data_dir / "guest-wifi"
        self.ctrl = self.dir / "ctrl"
        self.proc: subprocess.Popen[bytes] | None = None
        self.active = False
        self.detail = f"joining {cfg.ssid!r} on {cfg.interface}"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- life cycle -------------------------------------------------------------------------
    def start(self, on_state: OnState) -> None:
        """Join in the background (the capture loop does not wait); ON_STATE(active, detail)
        is called once joined, or with the reason when it failed."""
        self._thread = threading.Thread(target=self._bring_up, args=(on_state,),
                                        name="guest-wifi", daemon=True)
        self._thread.start()

    def _bring_up(self, on_state: OnState) -> None:
        try:
            detail = self.join()
        except StationError as exc:
            self.active, self.detail = False, str(exc)
            log.error("guest Wi-Fi station: %s", exc)
            self._kill()
        else:
            self.active, self.detail = True, detail
            log.info("guest Wi-Fi station: %s", detail)
        on_state(self.active, self.detail)

    def join(self) -> str:
        """Every step of the bring-up, in order; the detail when joined, else StationError."""
        c = self.cfg
        if not Path("/sys/class/net", c.interface).exists():
            raise StationError(f"interface {c.interface!r} does not exist "
                               "(check probe.guest_wifi.interface)")
        passphrase = ""
        if c.key_mgmt != "NONE":
            try:
                passphrase = read_secret(Path(c.passphrase_file),
                                         "probe.guest_wifi.passphrase_file")
            except ConfigError as exc:
                raise StationError(str(exc)) from exc
        text = wpa_config(c, passphrase, self.ctrl)
        exe = _exe(WPA_SUPPLICANT, "wpa_supplicant")
        try:
            self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.chmod(self.dir, 0o700)
            conf = self.dir / "wpa_supplicant.conf"
            write_private(conf, text)
            logf = (self.dir / "wpa_supplicant.log").open("ab")
        except OSError as exc:
            raise StationError(f"cannot write the station's files in {self.dir}: "
                               f"{exc.strerror}") from exc
        with logf:
            try:
                self.proc = subprocess.Popen(
                    [exe, "-i", c.interface, "-D", "nl80211", "-c", str(conf)],
                    stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT)
            except OSError as exc:
                raise StationError(f"wpa_supplicant did not start: {exc.strerror}") from exc
        state = self._wait_completed(time.monotonic() + c.join_timeout_s)
        addr = self._address(time.monotonic() + c.join_timeout_s)
        return (f"joined {c.ssid!r} ({state.get('key_mgmt', c.key_mgmt)}, "
                f"BSSID {state.get('bssid', '?')}) on {c.interface}, address {addr}")

    def _wait_completed(self, deadline: float) -> dict[str, str]:
        state: dict[str, str] = {}
        while True:
            if self._stop.is_set():
                raise StationError("the agent is stopping")
            if self.proc is not None and self.proc.poll() is not None:
                raise StationError(f"wpa_supplicant exited with code {self.proc.returncode}: "
                                   f"{self._log_tail()}")
            try:
                state = status_fields(ctrl_request(self.ctrl, self.cfg.interface, "STATUS"))
            except OSError:
                state = {}  # the control socket is not there yet
            if state.get("wpa_state") == "COMPLETED":
                return state
            if time.monotonic() > deadline:
                raise StationError(
                    f"did not join {self.cfg.ssid!r} within {self.cfg.join_timeout_s:g} s "
                    f"(state {state.get('wpa_state', 'unknown')}; wrong passphrase, SSID out "
                    "of range, or key_mgmt not what the AP offers?)")
            self._stop.wait(0.5)

    def _address(self, deadline: float) -> str:
        c = self.cfg
        ip = _exe(IP, "ip")
        if c.address:
            r = subprocess.run([ip, "addr", "replace", c.address, "dev", c.interface],
                               capture_output=True, text=True, timeout=30, check=False)
            if r.returncode:
                raise StationError(f"cannot set the address {c.address} on {c.interface}: "
                                   f"{(r.stderr or r.stdout).strip()}")
            return c.address
        while True:  # the operating system's DHCP client (dhcpcd, NetworkManager) gives one
            have = ipv4_addresses(c.interface)
            if have:
                return have[0]
            if time.monotonic() > deadline or self._stop.is_set():
                raise StationError(
                    f"joined {c.ssid!r} but {c.interface} got no IPv4 address within "
                    f"{c.join_timeout_s:g} s: set probe.guest_wifi.address, or let the "
                    "system's DHCP client manage the interface")
            self._stop.wait(0.5)

    def _log_tail(self) -> str:
        try:
            text = (self.dir / "wpa_supplicant.log").read_text(errors="replace")
        except OSError:
            return "(no log)"
        return " | ".join(text.strip().splitlines()[-3:])

    def _kill(self) -> None:
        p, self.proc = self.proc, None
        if p is None or p.poll() is not None:
            return
        p.terminate()
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(10)

    def stop(self) -> None:
        """Leave the guest network: wpa_supplicant ends (it disassociates on SIGTERM); a static
        address the agent put on the interface is taken off again."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(15)
        was_active = self.active
        self._kill()
        self.active = False
        if was_active and self.cfg.address:
            subprocess.run([_exe(IP, "ip"), "addr", "del", self.cfg.address, "dev",
                            self.cfg.interface], capture_output=True, timeout=30, check=False)
        log.info("guest Wi-Fi station stopped")
