"""Which guest stations a client-isolation test (3-⑤) can fail against. Pure.

Silence from a station that is not on the network proves nothing: a peer that is switched off
or has left the guest Wi-Fi stays silent whether or not the access point isolates its clients.
So a peer counts only with current evidence that it is there — a sighting no older than
`probe.isolation_peer_fresh_s`: the LAN sensor's station rows (ARP/DHCP it heard) or an earlier
probe cycle that found the device. Everyone else is set aside with when it was last seen, so
the check can say whom it could not use and why.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Sighting:
    """When a station was last seen at an address, and by what ("sensor": the passive LAN
    sensor's ARP/DHCP station rows; "probe": found by an earlier probe cycle)."""

    at: float
    source: str


@dataclass(frozen=True, slots=True)
class Peers:
    """`present`: the peers with a fresh sighting (`ip`, `seen_at`, `source`, `configured`);
    `absent`: the others (`ip`, `last_seen` or None when never seen, `configured`)."""

    present: list[dict[str, Any]] = field(default_factory=list)
    absent: list[dict[str, Any]] = field(default_factory=list)


def latest(*sources: tuple[str, Mapping[str, float]]) -> dict[str, Sighting]:
    """The newest sighting of each address over several (source name, ip -> time) tables."""
    out: dict[str, Sighting] = {}
    for name, seen in sources:
        for ip, at in seen.items():
            if ip not in out or at > out[ip].at:
                out[ip] = Sighting(at, name)
    return out


def split(candidates: Iterable[str], configured: Collection[str],
          sightings: Mapping[str, Sighting], now: float, fresh_s: float) -> Peers:
    """CANDIDATES (addresses the test may fail against) into those seen within FRESH_S before
    NOW — a sighting exactly FRESH_S old still counts — and those not; CONFIGURED names the
    `probe.isolation_peers` among them."""
    out = Peers()
    for ip in sorted(set(candidates), key=ipaddress.ip_address):
        s = sightings.get(ip)
        if s is not None and now - s.at <= fresh_s:
            out.present.append({"ip": ip, "seen_at": round(s.at, 3), "source": s.source,
                                "configured": ip in configured})
        else:
            out.absent.append({"ip": ip, "last_seen": None if s is None else round(s.at, 3),
                               "configured": ip in configured})
    return out
