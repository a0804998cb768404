"""A network-namespace testbed builder: switches (bridges), hosts, routers, services.

Everything lives in namespaces this module creates and deletes; nothing touches the machine's
own interfaces or routes. Addresses come from the documentation ranges (192.0.2.0/24,
198.51.100.0/24, 203.0.113.0/24) and no namespace has a route out of the testbed.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import secrets
import shlex
import shutil
import subprocess
from dataclasses import dataclass, field

ALLOWED_NETS = ("192.0.2.", "198.51.100.", "203.0.113.")


def available() -> tuple[bool, str]:
    if os.geteuid() != 0:
        return False, "needs root to create network namespaces (CI runs as root)"
    if shutil.which("ip") is None:
        return False, "needs iproute2 (`ip`)"
    return True, ""


def sh(*args: str, check: bool = True, ns: str | None = None) -> subprocess.CompletedProcess[str]:
    cmd = list(args)
    if ns is not None:
        cmd = ["ip", "netns", "exec", ns, *cmd]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    if check and res.returncode != 0:
        raise RuntimeError(f"{shlex.join(cmd)} failed: {res.stderr.strip()}")
    return res


def _check_addr(cidr: str) -> None:
    if not cidr.startswith(ALLOWED_NETS):
        raise ValueError(f"testbed addresses must come from documentation ranges, not {cidr}")


@dataclass
class Host:
    name: str
    ns: str
    ifaces: dict[str, str] = field(default_factory=dict)  # ifname -> cidr
    macs: dict[str, str] = field(default_factory=dict)

    @property
    def ip(self) -> str:
        return next(iter(self.ifaces.values())).split("/")[0]

    @property
    def mac(self) -> str:
        return next(iter(self.macs.values()))


class Testbed:
    __test__ = False  # not a test class, despite its name

    def __init__(self) -> None:
        self.tag = secrets.token_hex(3)
        self.switch_ns = f"og{self.tag}-sw"
        self.namespaces: list[str] = []
        self.procs: list[subprocess.Popen[bytes]] = []
        self.hosts: dict[str, Host] = {}
        self.bridges: dict[str, str] = {}
        self._n = 0
        self._closed = False
        atexit.register(self.close)
        self._add_ns(self.switch_ns)

    def _add_ns(self, ns: str) -> None:
        sh("ip", "netns", "add", ns)
        self.namespaces.append(ns)
        sh("ip", "-n", ns, "link", "set", "lo", "up")

    # -- switches ---------------------------------------------------------------------------
    def bridge(self, name: str, hub: bool = False) -> str:
        """A switch. hub=True floods every frame to every port (a mirror port, in effect)."""
        br = f"br{self.tag[:4]}{len(self.bridges)}"
        sh("ip", "-n", self.switch_ns, "link", "add", br, "type", "bridge",
           *(["ageing_time", "0"] if hub else []))
        sh("ip", "-n", self.switch_ns, "link", "set", br, "up")
        self.bridges[name] = br
        return br

    # -- hosts ------------------------------------------------------------------------------
    def host(self, name: str) -> Host:
        if name not in self.hosts:
            ns = f"og{self.tag}-{name}"
            self._add_ns(ns)
            self.hosts[name] = Host(name, ns)
        return self.hosts[name]

    def link(self, name: str, bridge: str, cidr: str, ifname: str = "eth0",
             isolated: bool = False, gateway: str | None = None) -> Host:
        """Plug host NAME into switch BRIDGE with address CIDR."""
        _check_addr(cidr)
        h = self.host(name)
        self._n += 1
        port = f"p{self.tag}{self._n}"
        peer = f"q{self.tag}{self._n}"
        sw = self.switch_ns
        sh("ip", "-n", sw, "link", "add", port, "type", "veth", "peer", "name", peer)
        sh("ip", "-n", sw, "link", "set", peer, "netns", h.ns)
        sh("ip", "-n", h.ns, "link", "set", peer, "name", ifname)
        sh("ip", "-n", sw, "link", "set", port, "master", self.bridges[bridge])
        if isolated:
            sh("ip", "-n", sw, "link", "set", "dev", port, "type", "bridge_slave", "isolated", "on")
        sh("ip", "-n", sw, "link", "set", port, "up")
        sh("ip", "-n", h.ns, "addr", "add", cidr, "dev", ifname)
        sh("ip", "-n", h.ns, "link", "set", ifname, "up")
        if gateway:
            _check_addr(gateway)
            sh("ip", "-n", h.ns, "route", "add", "default", "via", gateway)
        h.ifaces[ifname] = cidr
        h.macs[ifname] = sh("cat", f"/sys/class/net/{ifname}/address", ns=h.ns).stdout.strip()
        return h

    def router(self, name: str, legs: list[tuple[str, str]], firewall: bool = False) -> Host:
        """A router between switches. firewall=True drops forwarding from the first leg to the
        others (a guest network that must not reach the business side)."""
        h = self.host(name)
        for i, (bridge, cidr) in enumerate(legs):
            self.link(name, bridge, cidr, ifname=f"eth{i}")
        sh("sysctl", "-qw", "net.ipv4.ip_forward=1", ns=h.ns)
        if firewall:
            sh("nft", "add table inet og; add chain inet og filt { type filter hook forward "
               "priority 0; policy accept; }; add rule inet og filt iifname eth0 drop",
               ns=h.ns)
        return h

    def isolate_port(self, name: str, ifname: str = "eth0", on: bool = True) -> None:
        h = self.hosts[name]
        # find the switch-side peer of the host's interface by its ifindex
        peer_index = sh("cat", f"/sys/class/net/{ifname}/iflink", ns=h.ns).stdout.strip()
        for line in sh("ip", "-n", self.switch_ns, "-o", "link").stdout.splitlines():
            idx, rest = line.split(":", 1)
            if idx.strip() == peer_index:
                port = rest.split("@")[0].strip()
                sh("ip", "-n", self.switch_ns, "link", "set", "dev", port, "type",
                   "bridge_slave", "isolated", "on" if on else "off")
                return
        raise RuntimeError(f"switch port of {name}/{ifname} not found")

    # -- processes --------------------------------------------------------------------------
    def exec(self, name: str, *cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return sh(*cmd, check=check, ns=self.hosts[name].ns)

    def spawn(self, name: str, *cmd: str, env: dict[str, str] | None = None,
              stdout: int | None = subprocess.PIPE, stderr: int | None = subprocess.PIPE
              ) -> subprocess.Popen[bytes]:
        p = subprocess.Popen(["ip", "netns", "exec", self.hosts[name].ns, *cmd],
                             stdout=stdout, stderr=stderr, env=env)
        self.procs.append(p)
        return p

    def routes(self, name: str) -> str:
        return self.exec(name, "ip", "route", "show").stdout

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    p.wait(5)
            for stream in (p.stdout, p.stderr):
                if stream is not None:
                    stream.close()
        for ns in reversed(self.namespaces):
            sh("ip", "netns", "del", ns, check=False)

    def __enter__(self) -> Testbed:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
