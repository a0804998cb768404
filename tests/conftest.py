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
from typing import Any

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


def end_process(p: subprocess.Popen[Any], grace_s: float = 30) -> None:
    """Ask a child to stop, give it GRACE_S to record what it holds, then kill it."""
    if p.poll() is not None:
        return
    p.terminate()
    try:
        p.wait(grace_s)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait(10)


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


class SmtpServer:
    """A real SMTP server on loopback (aiosmtpd) that demands STARTTLS with a certificate
    made for the test; `received` holds the raw messages, `ca` the certificate to trust."""

    def __init__(self, tmp_path: Path) -> None:
        import ssl

        from aiosmtpd.controller import Controller

        self.ca = tmp_path / "smtp-cert.pem"
        key = tmp_path / "smtp-key.pem"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days",
                        "2", "-keyout", str(key), "-out", str(self.ca), "-subj",
                        "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                       check=True, capture_output=True)
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(self.ca, key)
        self.received: list[bytes] = []
        received = self.received

        class Handler:
            async def handle_DATA(self, _server: object, _session: object,  # noqa: N802
                                  envelope: object) -> str:
                received.append(envelope.content)  # type: ignore[attr-defined]
                return "250 OK"

        self.port = free_port()
        self._ctl = Controller(Handler(), hostname="127.0.0.1", port=self.port,
                               tls_context=ctx, require_starttls=True)

    def toml(self, to: str) -> str:
        """The [exports] section that sends to this server."""
        return (f'[exports]\nemail_to = ["{to}"]\nsmtp_host = "127.0.0.1"\n'
                f'smtp_port = {self.port}\nsmtp_ca_file = "{self.ca}"\n')

    def __enter__(self) -> SmtpServer:
        self._ctl.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._ctl.stop()
