"""The appliance's root file system, built as the image builds it, booted under its own systemd.

`installed_tree` makes a Debian bookworm root the way pi-gen's stage does: the packages of
image-build/stage-officeguard/00-packages (plus systemd, which Raspberry Pi OS Lite has), then
`install.sh` from a wheelhouse in a chroot, exactly as stage-officeguard/01-officeguard/00-run.sh
runs it. The debootstrap result is cached (OFFICEGUARD_IMAGE_CACHE, default
/var/cache/officeguard-image), keyed by the package list.

`Machine` boots such a tree with `systemd-nspawn --boot` (systemd as the container's PID 1) in a
network namespace of its own that has only loopback (`--private-network`): nothing reaches the
host's network. The tests look from outside: `nsenter` for systemctl/journalctl, and client
sockets opened by a host thread that has joined the container's network namespace.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

from tests.conftest import ROOT

T = TypeVar("T")
CACHE = Path(os.environ.get("OFFICEGUARD_IMAGE_CACHE", "/var/cache/officeguard-image"))
MIRROR = os.environ.get("OFFICEGUARD_DEBIAN_MIRROR", "http://deb.debian.org/debian")
STAGE = ROOT / "image-build" / "stage-officeguard"
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
TIMINGS: list[tuple[str, float]] = []


def available() -> tuple[bool, str]:
    if os.geteuid() != 0:
        return False, "needs root (debootstrap, chroot, systemd-nspawn)"
    for tool in ("debootstrap", "systemd-nspawn", "nsenter"):
        if shutil.which(tool) is None:
            return False, f"needs {tool} (make test-image installs debootstrap, systemd-container)"
    return True, ""


@contextlib.contextmanager
def timed(label: str) -> Iterator[None]:
    t0 = time.monotonic()
    try:
        yield
    finally:
        dt = time.monotonic() - t0
        TIMINGS.append((label, dt))
        print(f"[image] {label}: {dt:.1f} s", file=sys.stderr, flush=True)


def base_packages() -> list[str]:
    stage = [ln.strip() for ln in (STAGE / "00-packages" / "00-packages").read_text().splitlines()
             if ln.strip() and not ln.startswith("#")]
    # what Raspberry Pi OS Lite (pi-gen stages 0-2) already has and a minbase lacks
    return ["systemd", "systemd-sysv", "dbus", "iproute2", "ca-certificates", "python3", *stage]


def base_tree() -> Path:
    """A debootstrapped bookworm with the stage's packages, cached between runs."""
    pkgs = base_packages()
    key = hashlib.sha256(("bookworm minbase " + ",".join(sorted(pkgs))).encode()).hexdigest()
    base = CACHE / f"base-{key[:12]}"
    if (base / ".complete").exists():
        return base
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = CACHE / f"tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    with timed("debootstrap bookworm (not cached yet)"):
        res = subprocess.run(["debootstrap", "--variant=minbase", "--include=" + ",".join(pkgs),
                              "bookworm", str(tmp), MIRROR], capture_output=True, text=True,
                             timeout=3600)
    if res.returncode != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        raise RuntimeError("debootstrap failed: " + res.stdout[-2000:] + res.stderr[-2000:])
    subprocess.run(["chroot", str(tmp), "apt-get", "clean"], check=False, capture_output=True)
    (tmp / ".complete").touch()
    shutil.rmtree(base, ignore_errors=True)
    os.replace(tmp, base)
    return base


_WHEELHOUSES: dict[Path, Path] = {}


def wheelhouse(dest: Path, source: Path = ROOT) -> Path:
    """The officeguard wheel of SOURCE and every dependency (from pip's cache when warm); built
    once per test session."""
    if source in _WHEELHOUSES:
        return _WHEELHOUSES[source]
    dest.mkdir(parents=True, exist_ok=True)
    res = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "-w", str(dest),
                          str(source)], capture_output=True, text=True, timeout=1800)
    if res.returncode != 0:
        raise RuntimeError("pip wheel failed: " + res.stderr[-2000:])
    shutil.rmtree(source / "build", ignore_errors=True)
    _WHEELHOUSES[source] = dest
    return dest


def release_source(dest: Path, version: str, patch: Callable[[Path], None] | None = None
                   ) -> Path:
    """A copy of this checkout as release VERSION (optionally altered: a broken release)."""
    for name in ("appliance", "agent", "web", "pyproject.toml", "README.md"):
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(src, dest / name)
    for f, old in ((dest / "pyproject.toml", 'version = "'), (dest / "appliance/__init__.py",
                                                              '__version__ = "')):
        text = f.read_text()
        start = text.index(old) + len(old)
        f.write_text(text[:start] + version + text[text.index('"', start):])
    if patch:
        patch(dest)
    return dest


def installed_tree(work: Path, wheels: Path) -> Path:
    """A copy of the base with the appliance installed by install.sh, as pi-gen's stage does."""
    base = base_tree()
    root = work / "root"
    with timed("copy the cached base tree"):
        subprocess.run(["cp", "-a", "--reflink=auto", str(base), str(root)], check=True)
    inst = root / "opt/officeguard/install"
    inst.mkdir(parents=True)
    shutil.copytree(wheels, inst / "wheels")
    shutil.copytree(ROOT / "systemd", inst / "systemd")
    shutil.copy(ROOT / "image-build/install.sh", inst / "install.sh")
    shutil.copytree(ROOT / "docs", root / "opt/officeguard/docs")
    subprocess.run(["mount", "-t", "proc", "proc", str(root / "proc")], check=True)
    try:
        with timed("install.sh in the chroot (offline, from the wheelhouse)"):
            res = subprocess.run(
                ["chroot", str(root), "env", "-i", f"PATH={PATH}", "LANG=C.UTF-8", "OFFLINE=1",
                 "bash", "/opt/officeguard/install/install.sh", "/opt/officeguard/install/wheels",
                 "/opt/officeguard/install/systemd"],
                capture_output=True, text=True, timeout=1800)
    finally:
        subprocess.run(["umount", "-l", str(root / "proc")], check=False)
    if res.returncode != 0:
        raise RuntimeError("install.sh failed: " + res.stdout[-3000:] + res.stderr[-3000:])
    shutil.rmtree(inst)
    return root


def _setns(path: str) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(path, os.O_RDONLY)
    try:
        if libc.setns(fd, 0x40000000) != 0:  # CLONE_NEWNET
            raise OSError(ctypes.get_errno(), f"setns {path}")
    finally:
        os.close(fd)


class Machine:
    """One booted appliance: systemd-nspawn --boot on ROOT, loopback-only network."""

    def __init__(self, root: Path, log: Path) -> None:
        self.root = root
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None
        self.leader = 0
        self.boots = 0

    # -- life cycle --------------------------------------------------------------------------
    def boot(self, timeout: float = 300) -> float:
        """Boot and wait until systemd has finished starting up; returns the seconds it took."""
        t0 = time.monotonic()
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                ["systemd-nspawn", "-D", str(self.root), "--boot", "--register=no",
                 "--keep-unit", "--private-network", "--console=read-only",
                 "--machine=officeguard"],
                stdin=subprocess.DEVNULL, stdout=out, stderr=out)
        self.boots += 1
        deadline = t0 + timeout
        while not self.leader:
            self._check_alive()
            self.leader = self._find_leader()
            if time.monotonic() > deadline:
                raise RuntimeError("the container never started")
            time.sleep(0.1)
        state = ""
        while time.monotonic() < deadline:
            self._check_alive()
            res = self.sh("systemctl", "is-system-running", check=False)
            state = res.stdout.strip()
            if state in ("running", "degraded"):
                return time.monotonic() - t0
            time.sleep(0.5)
        raise RuntimeError(f"boot did not finish (state {state!r}): {self.tail()}")

    def _check_alive(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(f"systemd-nspawn exited ({self.proc.returncode}): {self.tail()}")

    def _find_leader(self) -> int:
        """The container's PID 1 as the host sees it: a descendant of nspawn whose PID in its
        own namespace is 1."""
        assert self.proc is not None
        todo = [self.proc.pid]
        while todo:
            pid = todo.pop()
            with contextlib.suppress(OSError):
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("NSpid:") and line.split()[-1] == "1" and \
                            len(line.split()) > 2:
                        return pid
                children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
                todo.extend(int(c) for c in children)
        return 0

    def shutdown(self, timeout: float = 120) -> None:
        """A clean power-off: systemd stops every unit."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.sh("systemctl", "poweroff", "--no-block", check=False)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.power_cut()
        self.leader = 0

    def power_cut(self) -> None:
        """Every process of the machine dies at once (SIGKILL to its PID 1 kills the whole PID
        namespace): what a pulled plug does to the software. The page cache is the host's, so
        this does not model a disk losing unflushed writes."""
        if self.leader:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.leader, signal.SIGKILL)
        if self.proc is not None:
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(30)
        self.leader = 0

    def tail(self, n: int = 3000) -> str:
        try:
            return self.log.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    # -- looking in from outside -------------------------------------------------------------
    def sh(self, *cmd: str, check: bool = True, timeout: float = 120, user: str | None = None
           ) -> subprocess.CompletedProcess[str]:
        """Run CMD in the machine's namespaces (as root, or as USER via setpriv)."""
        inner = list(cmd)
        if user:
            inner = ["setpriv", f"--reuid={user}", f"--regid={user}", "--init-groups",
                     "--inh-caps=-all", *inner]
        res = subprocess.run(["nsenter", "-t", str(self.leader), "-m", "-u", "-i", "-n", "-p",
                              "-C", "env", "-i", f"PATH={PATH}", "LANG=C.UTF-8",
                              "OFFICEGUARD_CONFIG=/etc/officeguard/officeguard.toml", *inner],
                             capture_output=True, text=True, timeout=timeout)
        if check and res.returncode != 0:
            raise RuntimeError(f"{inner} failed ({res.returncode}): {res.stdout[-1500:]}"
                               f"{res.stderr[-1500:]}")
        return res

    def props(self, unit: str, *names: str) -> dict[str, str]:
        out = self.sh("systemctl", "show", unit, *(f"--property={n}" for n in names)).stdout
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    def journal(self, unit: str | None = None, lines: int = 60) -> str:
        cmd = ["journalctl", "--no-pager", "-n", str(lines), "-o", "short-monotonic"]
        if unit:
            cmd += ["-u", unit]
        return self.sh(*cmd, check=False).stdout

    def wait_for(self, what: str, cond: Callable[[], bool], timeout: float,
                 poll: float = 0.5) -> float:
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if cond():
                return time.monotonic() - t0
            time.sleep(poll)
        raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")

    def in_netns(self, fn: Callable[[], T], timeout: float = 120) -> T:
        """Call FN on a host thread that joined the machine's network namespace: its sockets
        connect to the machine's 127.0.0.1 (network namespaces are per thread)."""
        out: list[T] = []
        err: list[BaseException] = []
        ns = f"/proc/{self.leader}/ns/net"

        def run() -> None:
            try:
                _setns(ns)
                out.append(fn())
            except BaseException as exc:  # noqa: BLE001 - handed to the caller
                err.append(exc)

        t = threading.Thread(target=run, name="in-machine-netns", daemon=True)
        t.start()
        t.join(timeout)
        if t.is_alive():
            raise TimeoutError(f"{fn} did not finish in {timeout} s")
        if err:
            raise err[0]
        return out[0]

    def sql(self, query: str) -> list[list[object]]:
        """A read-only query on the appliance's database, as the officeguard user, inside."""
        code = ("import json,sqlite3,sys;"
                "c=sqlite3.connect('file:/var/lib/officeguard/officeguard.db?mode=ro',uri=True);"
                "print(json.dumps([list(r) for r in c.execute(sys.argv[1])]))")
        import json

        res = self.sh("/opt/officeguard/venv/bin/python", "-c", code, query, user="officeguard")
        rows: list[list[object]] = json.loads(res.stdout)
        return rows

    def release_of(self, pid: str) -> str:
        """Which release a process runs: the releases/<name> its native modules are mapped from."""
        maps = self.sh("cat", f"/proc/{pid}/maps").stdout
        found = {p.split("/opt/officeguard/releases/")[1].split("/")[0]
                 for p in maps.split() if "/opt/officeguard/releases/" in p}
        assert len(found) == 1, found
        return found.pop()
