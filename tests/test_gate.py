"""The probe gate: the one door out (agent/probe/gate.py).

1. No module of agent/ or web/ other than the gate (and the passive or local ones listed
   below) creates a socket, wraps one in TLS, connects, or runs a network client: the AST of
   every module is walked.
2. The gate refuses an address outside the scope for every protocol family before anything is
   sent (loopback only: listeners on 127.0.0.1, a scope of 127.0.0.2).
3. Capabilities are read from the effective set (CapEff), and a missing one refuses with its
   reason.
4. `officeguard probe --scope` goes through the config's validation (exit 2, clear error).
"""

from __future__ import annotations

import ast
import asyncio
import json
import os
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.probe import caps, segments
from agent.probe.caps import Cap, MissingCapability
from agent.probe.gate import Gate, Settings
from agent.probe.scope import OutOfScope, Scope
from appliance import scope as scope_rules
from tests.conftest import OFFICEGUARD, ROOT

GATE = "agent/probe/gate.py"
# not probes: passive capture, the systemd notify socket, the MQTT client to the facility's
# broker, the web's own-address check (a UDP connect that sends nothing)
# passive capture, systemd's notify socket, the broker, the web's own listener, and the local
# control socket of the appliance's own wpa_supplicant: none of them reaches a probe target
NOT_PROBES = {"agent/sources.py", "agent/sdnotify.py", "agent/mqtt.py", "web/limits.py",
              "agent/station.py"}

# fully qualified callables that open a socket or a connection
FORBIDDEN_CALLS = {
    "socket.socket", "socket.create_connection", "socket.fromfd", "socket.create_server",
    "ssl.wrap_socket", "http.client.HTTPConnection", "http.client.HTTPSConnection",
    "urllib.request.urlopen", "urllib.request.build_opener", "smtplib.SMTP",
    "smtplib.SMTP_SSL", "ftplib.FTP", "telnetlib.Telnet", "asyncio.open_connection",
    "asyncio.create_subprocess_exec", "asyncio.create_subprocess_shell",
}
# methods that connect or send whatever the object they are called on
FORBIDDEN_METHODS = {
    "wrap_socket", "wrap_bio", "create_connection", "create_datagram_endpoint",
    "open_connection", "sock_connect", "sock_sendto", "sock_sendall", "start_tls",
    "create_subprocess_exec", "create_subprocess_shell",
}
# client libraries that talk to other hosts
FORBIDDEN_IMPORTS = {
    "http.client", "urllib.request", "smtplib", "ftplib", "telnetlib", "requests", "httpx",
    "aiohttp", "urllib3", "paramiko", "asyncssh", "scapy", "pysnmp", "impacket",
}


def _aliases(tree: ast.AST) -> dict[str, str]:
    out: dict[str, str] = {}
    for n in ast.walk(tree):
        if isinstance(n, ast.Import):
            for a in n.names:
                out[a.asname or a.name.split(".")[0]] = a.name if a.asname else a.name.split(".")[0]
        elif isinstance(n, ast.ImportFrom) and n.module and not n.level:
            for a in n.names:
                out[a.asname or a.name] = f"{n.module}.{a.name}"
    return out


def _dotted(node: ast.AST, aliases: dict[str, str]) -> str:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(aliases.get(node.id, node.id))
    else:
        parts.append("?")
    return ".".join(reversed(parts))


def violations(source: str) -> list[str]:
    """Every place in SOURCE that opens a connection or a socket, or imports a client."""
    tree = ast.parse(source)
    aliases = _aliases(tree)
    out = []
    for n in ast.walk(tree):
        if isinstance(n, ast.Import):
            out += [f"{n.lineno}: import {a.name}" for a in n.names
                    if any(a.name == m or a.name.startswith(m + ".") for m in FORBIDDEN_IMPORTS)]
        elif isinstance(n, ast.ImportFrom) and n.module and not n.level:
            full = [f"{n.module}.{a.name}" for a in n.names]
            out += [f"{n.lineno}: from {n.module} import {f.rsplit('.', 1)[1]}" for f in full
                    if any(f == m or f.startswith(m + ".") or n.module == m
                           or n.module.startswith(m + ".") for m in FORBIDDEN_IMPORTS)]
        elif isinstance(n, ast.Call):
            name = _dotted(n.func, aliases)
            if name in FORBIDDEN_CALLS or (isinstance(n.func, ast.Attribute)
                                           and n.func.attr in FORBIDDEN_METHODS):
                out.append(f"{n.lineno}: {name}()")
    return out


def _modules() -> list[Path]:
    return sorted(p for d in ("agent", "web") for p in (ROOT / d).rglob("*.py"))


def test_no_module_but_the_gate_opens_a_socket() -> None:
    bad = {}
    for p in _modules():
        rel = p.relative_to(ROOT).as_posix()
        if rel == GATE or rel in NOT_PROBES:
            continue
        if v := violations(p.read_text(encoding="utf-8")):
            bad[rel] = v
    assert bad == {}


def test_the_walk_sees_every_way_out() -> None:
    """The checker finds what it looks for: the gate itself is full of it, and each pattern on
    its own (aliases included) is caught."""
    gate = violations((ROOT / GATE).read_text(encoding="utf-8"))
    for what in ("socket.socket()", "asyncio.open_connection()", "sock_sendto()",
                 "start_tls()", "asyncio.create_subprocess_exec()"):
        assert any(what in v for v in gate), what
    snippets = [
        "import socket\nsocket.socket()",
        "from socket import socket as S\nS()",
        "import socket\nsocket.create_connection(('h', 1))",
        "import ssl\nssl.create_default_context().wrap_socket(s)",
        "import urllib.request\nurllib.request.urlopen('http://x')",
        "from urllib.request import urlopen",
        "import http.client",
        "from http.client import HTTPSConnection",
        "import smtplib",
        "import asyncio\nasyncio.open_connection('h', 1)",
        "async def f(loop):\n    await loop.create_connection(P, 'h', 1)",
        "async def f(loop, s):\n    await loop.sock_sendto(s, b'', ('h', 0))",
        "import asyncio\nasyncio.create_subprocess_exec('ssh')",
        "import requests",
    ]
    for s in snippets:
        assert violations(s), s
    assert violations("import socket\nsocket.inet_aton('1.2.3.4')\nsocket.htons(1)") == []
    # the exempt modules exist, so the list cannot silently go stale
    for rel in NOT_PROBES | {GATE}:
        assert (ROOT / rel).is_file(), rel


# -- the gate refuses what the scope does not allow ------------------------------------------

class _Listener:
    """A TCP and a UDP listener on 127.0.0.1 that count what reaches them."""

    def __init__(self) -> None:
        self.tcp = socket.socket()
        self.tcp.bind(("127.0.0.1", 0))
        self.tcp.listen(8)
        self.tcp.settimeout(0.2)
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", 0))
        self.udp.settimeout(0.2)
        self.connects = 0
        self.datagrams = 0
        self.stop = threading.Event()
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                c, _ = self.tcp.accept()
                self.connects += 1
                c.close()
            except OSError:
                pass
            try:
                data, addr = self.udp.recvfrom(2048)
                self.datagrams += 1
                self.udp.sendto(b"echo:" + data, addr)
            except OSError:
                pass

    def close(self) -> None:
        self.stop.set()
        self.t.join(5)
        self.tcp.close()
        self.udp.close()


@pytest.fixture
def listener() -> Iterator[_Listener]:
    lst = _Listener()
    yield lst
    lst.close()


def _gate(scope: str, **kw: object) -> Gate:
    return Gate(Scope.parse([scope]), Settings(connect_timeout_s=2, read_timeout_s=2), **kw)


def test_in_scope_traffic_passes_the_gate(listener: _Listener) -> None:
    """The allowing side, so that the refusals below mean something: the same calls, with the
    listener inside the scope, reach it and are counted."""
    g = _gate("127.0.0.1/32")
    tport, uport = listener.tcp.getsockname()[1], listener.udp.getsockname()[1]

    async def go() -> tuple[str, bytes | None]:
        state = await g.tcp_state("127.0.0.1", tport)
        async with g.stream("127.0.0.1", tport):
            pass
        return state, await g.udp("127.0.0.1", uport, b"hi")

    state, answer = asyncio.run(go())
    assert state == "open" and answer == b"echo:hi"
    assert listener.connects >= 2 and listener.datagrams == 1
    assert g.limiter.sent == 3


def test_every_protocol_family_is_refused_outside_the_scope(listener: _Listener) -> None:
    g = _gate("127.0.0.2/32", caps=frozenset(Cap))  # the capability is not what stops it
    tport, uport = listener.tcp.getsockname()[1], listener.udp.getsockname()[1]
    lo = segments.Iface("lo", "00:00:00:00:00:00", "127.0.0.2", Scope.parse(
        ["127.0.0.0/24"]).networks[0])  # type: ignore[arg-type]
    ip = "127.0.0.1"

    async def stream(tls: bool) -> None:
        async with g.stream(ip, tport, tls=tls):
            pass

    attempts = {
        "tcp": lambda: g.tcp_state(ip, tport),
        "tcp stream": lambda: stream(False),
        "tls": lambda: stream(True),
        "udp": lambda: g.udp(ip, uport, b"x"),
        "icmp": lambda: g.ping(ip),
        "icmp sweep": lambda: g.ping_sweep([ip]),
        "arp": lambda: g.arp_sweep(lo, [ip]),
        "ssh client": lambda: g.run_client(ip, ["/bin/true", ip], {}, 5),
    }
    for family, attempt in attempts.items():
        with pytest.raises(OutOfScope, match="outside the probe scope"):
            asyncio.run(attempt())  # type: ignore[arg-type]
        assert g.limiter.sent == 0, family
    # names and URLs: resolved first, refused when any address falls outside
    with pytest.raises(OutOfScope, match="resolves to 127.0.0.1"):
        g.resolve("printer.test", lambda _n: ["127.0.0.1"])
    with pytest.raises(OutOfScope, match="resolves to 127.0.0.1"):
        g.url_target("https://www.facility.test/", lambda _n: ["127.0.0.2", "127.0.0.1"])
    # the protocol probes (HTTP(S), SSH/telnet banners, SNMP, SSDP, mDNS, RTSP, IPP, SMB, RDP,
    # the credential checks, the web site) all go through these: whether they raise OutOfScope
    # or report nothing, not a packet reaches the listener
    from agent.probe import creds, rdp, services, smb, udp, website

    cred = creds.Cred("x", "v", "", "ftp", "u", "p")
    probes = {
        "http": lambda: services.http_get(g, ip, tport, False),
        "https": lambda: services.http_get(g, ip, tport, True),
        "identify": lambda: services.identify(g, ip, tport),
        "ssh banner": lambda: services.ssh_info(g, ip, tport),
        "rtsp": lambda: services.rtsp_info(g, ip, tport),
        "ipp": lambda: services.ipp_info(g, ip, tport),
        "snmp": lambda: udp.snmp_info(g, ip),
        "ssdp": lambda: udp.upnp_info(g, ip),
        "mdns": lambda: udp.mdns_info(g, ip),
        "smb": lambda: smb.probe(g, ip, tport),
        "rdp": lambda: rdp.probe(g, ip, tport),
        "ftp login": lambda: creds.try_ftp(g, ip, tport, cred),
        "ssh login": lambda: creds.try_ssh(g, ip, tport, cred),
        "website": lambda: website.check(g, f"https://{ip}:{tport}/"),
    }
    for family, probe in probes.items():
        try:
            asyncio.run(probe())  # type: ignore[arg-type]
        except (OutOfScope, *services.ERRORS):  # how each reports "nothing learnt" is its own
            pass
        assert g.limiter.sent == 0, family
    assert listener.connects == 0 and listener.datagrams == 0


def test_missing_capability_refuses_with_a_reason() -> None:
    g = _gate("127.0.0.0/24", caps=frozenset())
    lo = segments.Iface("lo", "00:00:00:00:00:00", "127.0.0.2", Scope.parse(
        ["127.0.0.0/24"]).networks[0])  # type: ignore[arg-type]
    with pytest.raises(MissingCapability, match="ARP sweep needs CAP_NET_RAW") as exc:
        asyncio.run(g.arp_sweep(lo, ["127.0.0.1"]))
    assert exc.value.cap is Cap.NET_RAW
    assert g.limiter.sent == 0


def test_capabilities_are_read_from_the_effective_set(tmp_path: Path) -> None:
    status = "Name:\tpython3\nCapInh:\t0000000000000000\nCapPrm:\t0000000000003000\n" \
             "CapEff:\t0000000000002000\nCapBnd:\t000001ffffffffff\n"
    assert caps.parse_cap_eff(status) == 0x2000
    f = tmp_path / "status"
    f.write_text(status)
    assert caps.effective(f) == {Cap.NET_RAW}  # the permitted NET_ADMIN is not effective
    f.write_text(status.replace("0000000000002000", "0000000000001000"))
    assert caps.effective(f) == {Cap.NET_ADMIN}
    f.write_text("Name:\tx\n")
    assert caps.effective(f) == frozenset()
    assert caps.effective(tmp_path / "missing") == frozenset()
    # this process: the same answer as the kernel's own bit
    mine = int(next(ln for ln in Path("/proc/self/status").read_text().splitlines()
                    if ln.startswith("CapEff:")).split()[1], 16)
    assert (Cap.NET_RAW in caps.effective()) == bool(mine >> 13 & 1)


# -- the one scope validation -----------------------------------------------------------------

def test_one_validation_for_config_and_probe() -> None:
    from appliance.config import ConfigError, from_mapping

    cases = {"224.0.0.0/24": "multicast", "255.255.255.255/32": "broadcast",
             "198.18.0.0/15": "wider than", "0.0.0.0/32": "unspecified",
             "8.8.8.8/32": "public range", "bad name!": "not a network or host name"}
    for entry, why in cases.items():
        with pytest.raises(ConfigError, match=why):
            from_mapping({"probe": {"scope": [entry]}})
        with pytest.raises(OutOfScope, match=why):
            Scope.parse([entry])
        with pytest.raises(scope_rules.ScopeError, match=why):
            scope_rules.validate([entry], allow_public=False)
    assert scope_rules.validate(["8.8.8.8"], allow_public=True) == ["8.8.8.8/32"]
    assert Scope.parse(["8.8.8.8/32"], allow_public=True).networks
    assert scope_rules.validate(["192.0.2.7/24", "Printer.Test"], False) == [
        "192.0.2.0/24", "printer.test"]


def _probe_cli(tmp_path: Path, toml: str, *args: str) -> subprocess.CompletedProcess[str]:
    cfg = tmp_path / "officeguard.toml"
    (tmp_path / "data").mkdir(exist_ok=True)
    cfg.write_text(f'{toml}\n[storage]\ndata_dir = "{tmp_path / "data"}"\n', encoding="utf-8")
    return subprocess.run([OFFICEGUARD, "probe", "--config", str(cfg), "--json", "--no-record",
                           *args], capture_output=True, text=True, timeout=120, cwd=tmp_path,
                          env={**os.environ, "OFFICEGUARD_CONFIG": str(cfg)})


@pytest.mark.parametrize(("scope", "why"), [
    ("224.0.0.0/24", "multicast"), ("255.255.255.255/32", "broadcast"),
    ("8.8.8.8/32", "public range"), ("198.18.0.0/15", "wider than"), (",", "no network"),
    ("bad name!", "not a network or host name")])
def test_probe_scope_option_is_validated_as_the_config(tmp_path: Path, scope: str,
                                                        why: str) -> None:
    # the website job with no site: even a validation that let the scope through sends nothing
    r = _probe_cli(tmp_path, "", "--scope", scope, "--jobs", "website")
    assert r.returncode == 2, r.stderr
    assert why in r.stderr and "--scope" in r.stderr
    assert r.stdout == ""


def test_probe_scope_option_in_scope_runs(tmp_path: Path) -> None:
    """A loopback scope passes the validation and runs (the website job alone, with no site:
    nothing is sent)."""
    r = _probe_cli(tmp_path, "", "--scope", "127.0.0.1/32", "--jobs", "website")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["scope"] == ["127.0.0.1/32"]
