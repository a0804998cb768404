"""Events: what a sensor concluded from frames.

Frozen, slotted, past-tense dataclasses; never tuples of dicts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import TypedDict


class LanEventKind(StrEnum):
    """LAN (ARP) event kinds, in arpwatch's vocabulary plus nzyme-style poisoning and gateway
    changes. A member is its own string: the events table stores exactly these values."""

    NEW_STATION = "new_station"
    NEW_ACTIVITY = "new_activity"
    FLIP_FLOP = "flip_flop"
    CHANGED_ETHERNET_ADDRESS = "changed_ethernet_address"
    REUSED_OLD_ETHERNET_ADDRESS = "reused_old_ethernet_address"
    ETHERNET_MISMATCH = "ethernet_mismatch"
    BOGON = "bogon"
    BROADCAST_ADDRESS = "broadcast_address"
    ARP_POISONING = "arp_poisoning"
    GATEWAY_MAC_CHANGED = "gateway_mac_changed"


NEW_STATION = LanEventKind.NEW_STATION
NEW_ACTIVITY = LanEventKind.NEW_ACTIVITY
FLIP_FLOP = LanEventKind.FLIP_FLOP
CHANGED_ETHERNET_ADDRESS = LanEventKind.CHANGED_ETHERNET_ADDRESS
REUSED_OLD_ETHERNET_ADDRESS = LanEventKind.REUSED_OLD_ETHERNET_ADDRESS
ETHERNET_MISMATCH = LanEventKind.ETHERNET_MISMATCH
BOGON = LanEventKind.BOGON
BROADCAST_ADDRESS = LanEventKind.BROADCAST_ADDRESS
ARP_POISONING = LanEventKind.ARP_POISONING
GATEWAY_MAC_CHANGED = LanEventKind.GATEWAY_MAC_CHANGED
LAN_EVENT_KINDS: tuple[LanEventKind, ...] = tuple(LanEventKind)


class LanDetail(TypedDict, total=False):
    """What a LAN event adds to ip/mac/old_mac; the keys each kind carries (mypy checks them;
    at run time it is the plain dict the events table stores as JSON)."""

    vendor: str | None  # new_station
    randomized: bool  # new_station: a locally administered MAC
    silent_for_s: float  # new_activity
    old_last_claim: float | None  # flip_flop, changed/reused_old_ethernet_address
    after_probe: bool  # ... the new owner probed first (RFC 5227 hand-over)
    reason: str  # arp_poisoning
    seconds_since_previous_claim: float  # arp_poisoning (another MAC claims)
    seconds_since_claim: float  # arp_poisoning (a MAC asks for its own address)
    window_s: float  # arp_poisoning
    macs: list[str]  # arp_poisoning
    op: str  # arp_poisoning: "reply" or "request"
    asked_from: str  # arp_poisoning (a MAC asks for its own address)
    gateway: str  # gateway_mac_changed
    link_src: str  # ethernet_mismatch


class WifiEventKind(StrEnum):
    """Wi-Fi event kinds (agent/wifi.py makes them)."""

    AP_CONFIRMED = "ap_confirmed"
    AP_CHANGED = "ap_changed"
    DEAUTH_FLOOD = "deauth_flood"
    BEACON_FLOOD = "beacon_flood"


class WifiDetail(TypedDict, total=False):
    """What a Wi-Fi event carries besides its AP snapshot, per kind."""

    changes: list[str]  # ap_changed: which fields changed ("channel", "security", "twin"...)
    new_bssids: int  # beacon_flood
    window_s: float  # beacon_flood
    impossible_bssids: int  # beacon_flood
    started: float  # beacon_flood, deauth_flood
    last: float  # beacon_flood
    suspect_share: float  # beacon_flood
    odd_share: float  # beacon_flood
    frames: int  # deauth_flood
    per_second_peak: int  # deauth_flood
    threshold_per_s: int  # deauth_flood
    sources: list[str]  # deauth_flood
    reasons: dict[str, int]  # deauth_flood: reason code -> frames
    protected: bool  # deauth_flood: the frames were protected (802.11w)


@dataclass(frozen=True, slots=True)
class LanEventSeen:
    kind: LanEventKind
    ts: float
    ip: str
    mac: str
    old_mac: str = ""
    detail: LanDetail = field(default_factory=lambda: LanDetail())

    @property
    def subject(self) -> str:
        return f"{self.ip} {self.mac}" + (f" (was {self.old_mac})" if self.old_mac else "")

