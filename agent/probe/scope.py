"""The authorised scope: what the facility allows the appliance to probe.

Every address is checked here before a packet leaves. Names are resolved first and refused when
any address they resolve to falls outside the scope's networks.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from appliance import scope as rules

Net = ipaddress.IPv4Network | ipaddress.IPv6Network
MAX_ADDRESSES = rules.MAX_ADDRESSES


class OutOfScope(rules.ScopeError):
    """A target the scope does not allow; nothing was sent to it."""


Resolver = Callable[[str], list[str]]


def system_resolver(name: str) -> list[str]:
    try:
        infos = socket.getaddrinfo(name, None, proto=socket.IPPROTO_TCP)
    except socket.gaierror as exc:
        raise OutOfScope(f"{name}: cannot resolve ({exc.strerror})") from exc
    return sorted({str(i[4][0]) for i in infos})


@dataclass
class Scope:
    networks: list[Net] = field(default_factory=list)
    names: list[str] = field(default_factory=list)

    @classmethod
    def parse(cls, entries: Iterable[str], allow_public: bool = False) -> Scope:
        """The scope by the one validation the config also uses (appliance/scope.py); a bad
        entry is OutOfScope, before anything is sent."""
        try:
            valid = rules.validate([e for e in entries if e.strip()], allow_public)
        except rules.ScopeError as exc:
            raise OutOfScope(str(exc)) from exc
        nets: list[Net] = []
        names: list[str] = []
        for e in valid:
            if rules.looks_like_address(e):
                nets.append(ipaddress.ip_network(e))
            else:
                names.append(e)
        return cls(nets, names)

    @property
    def empty(self) -> bool:
        return not self.networks

    def allows(self, ip: str) -> bool:
        try:
            a = ipaddress.ip_address(ip)
        except ValueError:
            return False
        return any(a in n for n in self.networks)

    def check(self, ip: str) -> str:
        if not self.allows(ip):
            raise OutOfScope(f"{ip} is outside the probe scope")
        return ip

    def resolve(self, name: str, resolver: Resolver = system_resolver) -> list[str]:
        """Addresses for a host name or literal, all inside the scope, or OutOfScope."""
        try:
            ipaddress.ip_address(name)
            return [self.check(name)]
        except ValueError:
            pass
        addrs = resolver(name)
        outside = [a for a in addrs if not self.allows(a)]
        if not addrs or outside:
            raise OutOfScope(f"{name} resolves to {', '.join(outside or ['nothing'])}, "
                             "outside the probe scope")
        return addrs

    def url_target(self, url: str, resolver: Resolver = system_resolver) -> tuple[str, list[str]]:
        host = urlsplit(url).hostname or ""
        if not host:
            raise OutOfScope(f"{url}: no host")
        return host, self.resolve(host, resolver)

    def hosts(self) -> Iterator[str]:
        """Every host address of the scope's networks (network and broadcast left out)."""
        seen: set[str] = set()
        for n in self.networks:
            it = n.hosts() if n.num_addresses > 2 else iter(n)
            for a in it:
                s = str(a)
                if s not in seen:
                    seen.add(s)
                    yield s
