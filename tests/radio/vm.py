"""The host's side of the radio testbed: boot Debian's kernel under virtme-ng (software
emulation), with this machine's root file system over 9p and one read-write shared folder, and
drive the guest's command server (tests/radio/guest.py) through files in that folder.

Nothing here waits a fixed time: every wait polls for a condition until a deadline, and the
deadlines are multiples of what was measured on this boot (`unit`: how long the guest takes to
start a Python interpreter), so a busy machine gets longer deadlines rather than failures.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
GUEST = Path(__file__).resolve().with_name("guest.py")
VENV_BIN = Path(sys.executable).parent
HWSIM = "mac80211_hwsim.ko"
# drivers udev would load for emulated hardware the tests never use (saves seconds of boot)
BLACKLIST = ("floppy,pcspkr,serio_raw,psmouse,evdev,joydev,button,ac,battery,i2c_piix4,"
             "intel_agp,bochs,ttm,drm,drm_kms_helper,parport_pc,ppdev,sg,sr_mod,cdrom,ata_piix,"
             "ata_generic,e1000,virtio_net,virtio_balloon,virtio_rng,qemu_fw_cfg,rtc_cmos,"
             "snd_pcsp,kvm,kvm_intel,kvm_amd,irqbypass")


def find_kernel() -> tuple[str, str] | None:
    """(vmlinuz path, version) of a Debian kernel that ships mac80211_hwsim, newest first."""
    for vmlinuz in sorted(glob.glob("/boot/vmlinuz-*"), reverse=True):
        ver = vmlinuz.split("vmlinuz-", 1)[1]
        mods = Path("/lib/modules", ver)
        if list(mods.glob("kernel/drivers/net/wireless/**/" + HWSIM + "*")):
            return vmlinuz, ver
    return None


def missing_prerequisites() -> str | None:
    """Why the radio VM cannot run here, or None."""
    if os.geteuid() != 0:
        return "needs root (the guest runs as root over this machine's root file system)"
    if not (VENV_BIN / "vng").exists() and not shutil.which("vng"):
        return "virtme-ng is not installed (pip install virtme-ng: the [test] extra)"
    for exe in ("qemu-system-x86_64", "hostapd", "wpa_supplicant", "iw"):
        if not shutil.which(exe) and not Path("/usr/sbin", exe).exists():
            return f"{exe} is missing (make deb-radio installs the Debian packages)"
    if find_kernel() is None:
        return ("no kernel with mac80211_hwsim in /boot and /lib/modules "
                "(Debian package linux-image-amd64)")
    return None


class GuestError(Exception):
    pass


class RadioVM:
    def __init__(self, share: Path, memory: str = "384M") -> None:
        self.share = share
        self.memory = memory
        self.proc: subprocess.Popen[bytes] | None = None
        self.console = share.parent / "vm-console.log"
        self.seq = 0
        self.unit = 1.0  # seconds the guest takes to start Python; measured in boot()
        self.boot_s = 0.0

    # -- life cycle -------------------------------------------------------------------------
    def boot(self, deadline_s: float = 600.0) -> None:
        found = find_kernel()
        assert found is not None
        vmlinuz, _ver = found
        self.share.mkdir(parents=True, exist_ok=True)
        for old in self.share.glob("*.json"):
            old.unlink()
        env = {**os.environ, "PATH": f"{VENV_BIN}:{os.environ.get('PATH', '')}"}
        py = Path(sys.base_prefix, "bin", "python3")
        cmd = [str(VENV_BIN / "vng") if (VENV_BIN / "vng").exists() else "vng",
               "--disable-kvm", "--run", vmlinuz, "--user", "root", "--cpus", "1",
               "--memory", self.memory, "--rwdir", str(self.share),
               "--append", f"modprobe.blacklist={BLACKLIST}",
               "--exec", f"{py} {GUEST} {self.share}"]
        t0 = time.monotonic()
        with self.console.open("wb") as log:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, env=env, cwd=self.share,
                                         start_new_session=True)
        ready = self.share / "ready.json"
        self.wait_for(lambda: ready.exists(), deadline_s, "the guest to boot",
                      alive_check=True)
        self.boot_s = time.monotonic() - t0
        # calibrate: one interpreter start in the guest is the unit of every later deadline
        r = self.run([str(py), "-c", "pass"], timeout=deadline_s)
        self.unit = max(0.2, float(r["elapsed"]))

    def shutdown(self) -> None:
        if self.proc is None:
            return
        try:
            if self.proc.poll() is None:
                self.call({"op": "quit"}, timeout=max(30.0, 20 * self.unit))
        except (GuestError, OSError, ValueError):
            pass  # the VM is stopped below either way (an answer read half-written, once)
        try:
            self.proc.wait(timeout=max(60.0, 30 * self.unit))
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, 15)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)
                self.proc.wait()
        self.proc = None

    def console_tail(self, n: int = 40) -> str:
        try:
            lines = self.console.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(lines[-n:])

    # -- waiting ----------------------------------------------------------------------------
    def wait_for(self, cond: Callable[[], Any], timeout: float, what: str,
                 alive_check: bool = True, every: float = 0.1) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            v = cond()
            if v:
                return v
            if alive_check and self.proc is not None and self.proc.poll() is not None:
                raise GuestError(f"the VM ended while waiting for {what}:\n"
                                 f"{self.console_tail()}")
            if time.monotonic() > deadline:
                raise GuestError(f"timed out after {timeout:.0f} s waiting for {what}")
            time.sleep(every)

    def t(self, units: float, floor: float = 10.0) -> float:
        """A deadline: so many guest interpreter starts, at least FLOOR seconds."""
        return max(floor, units * self.unit)

    # -- commands ---------------------------------------------------------------------------
    def call(self, req: dict[str, Any], timeout: float) -> dict[str, Any]:
        self.seq += 1
        n = self.seq
        tmp = self.share / f".req-{n}.tmp"
        tmp.write_text(json.dumps(req))
        tmp.rename(self.share / f"req-{n}.json")
        resp = self.share / f"resp-{n}.json"
        self.wait_for(resp.exists, timeout, f"the guest to answer {req['op']} "
                      f"{req.get('argv') or req.get('name') or ''}")
        doc: dict[str, Any] = json.loads(resp.read_text())
        resp.unlink()
        if "error" in doc:
            raise GuestError(doc["error"])
        return doc

    def run(self, argv: list[str], timeout: float = 60.0, check: bool = True,
            env: dict[str, str] | None = None) -> dict[str, Any]:
        r = self.call({"op": "run", "argv": argv, "timeout": timeout, "env": env or {}},
                      timeout + self.t(20))
        if check and r["rc"] != 0:
            raise GuestError(f"{' '.join(argv)} failed ({r['rc']}): {r['err'] or r['out']}")
        return r

    def sh(self, script: str, timeout: float = 60.0, check: bool = True) -> dict[str, Any]:
        return self.run(["/bin/sh", "-c", script], timeout, check)

    def spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> Path:
        log = self.share / f"{name}.log"
        self.call({"op": "spawn", "name": name, "argv": argv, "log": str(log),
                   "env": env or {}}, self.t(20))
        return log

    def poll(self, name: str) -> int | None:
        rc: int | None = self.call({"op": "poll", "name": name}, self.t(20))["rc"]
        return rc

    def stop(self, name: str, timeout: float | None = None) -> int | None:
        to = timeout if timeout is not None else self.t(30, 30)
        rc: int | None = self.call({"op": "stop", "name": name, "timeout": to},
                                   to + self.t(20))["rc"]
        return rc
