"""Shared fixtures: a fresh store, a real mosquitto broker, a network-namespace testbed."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance.config import Config
from appliance.store import Store
from tests import netns

ROOT = Path(__file__).resolve().parent.parent
PCAPS = ROOT.parent / "shared" / "data" / "pcaps"
OFFICEGUARD = str(Path(sys.executable).with_name("officeguard"))


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return Config.model_validate({"storage": {"data_dir": str(tmp_path / "data")}})


@pytest.fixture
def fresh_store(tmp_path: Path) -> Iterator[Store]:
    store = Store(tmp_path / "test.db")
    yield store
    store.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")


class Broker:
    __test__ = False

    """A real mosquitto on a free loopback port, with its own config file."""

    def __init__(self, workdir: Path, extra_conf: str = "") -> None:
        self.port = free_port()
        self.workdir = workdir
        self.conf = workdir / "mosquitto.conf"
        self.conf.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
            + self.user_line() + extra_conf
        )
        self.proc: subprocess.Popen[bytes] | None = None

    @staticmethod
    def user_line() -> str:
        # mosquitto started as root drops to the 'mosquitto' user, who cannot read the test's
        # private temporary folder (certificates, password file)
        return "user root\n" if os.geteuid() == 0 else ""

    def start(self) -> None:
        exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        with (self.workdir / "mosquitto.log").open("ab") as log:
            self.proc = subprocess.Popen([exe, "-c", str(self.conf)],
                                         stdout=subprocess.DEVNULL, stderr=log)
        _wait_port(self.port)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Broker]:
    if not (shutil.which("mosquitto") or Path("/usr/sbin/mosquitto").exists()):
        pytest.skip("needs Debian's mosquitto (make test installs it when run as root)")
    b = Broker(tmp_path)
    b.start()
    yield b
    b.stop()


@pytest.fixture
def testbed() -> Iterator[netns.Testbed]:
    ok, why = netns.available()
    if not ok:
        pytest.skip(why)
    tb = netns.Testbed()
    try:
        yield tb
    finally:
        tb.close()


def pcap(name: str) -> Path:
    p = PCAPS / name
    if not p.exists():
        pytest.skip(f"shared capture {name} is not beside the checkout")
    return p


def tshark_fields(path: Path, display_filter: str, *fields: str) -> list[list[str]]:
    exe = shutil.which("tshark")
    if exe is None:
        pytest.skip("needs tshark (make test installs it when run as root)")
    cmd = [exe, "-r", str(path), "-T", "fields", "-E", "separator=\t"]
    if display_filter:
        cmd += ["-Y", display_filter]
    for f in fields:
        cmd += ["-e", f]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120).stdout
    return [line.split("\t") for line in out.splitlines() if line]
