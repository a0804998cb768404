"""Events: what a sensor concluded from frames.

Frozen, slotted, past-tense dataclasses; never tuples of dicts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# LAN (ARP) event kinds, in arpwatch's vocabulary plus nzyme-style poisoning and gateway changes.
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

LAN_EVENT_KINDS = (
    NEW_STATION,
    NEW_ACTIVITY,
    FLIP_FLOP,
    CHANGED_ETHERNET_ADDRESS,
    REUSED_OLD_ETHERNET_ADDRESS,
    ETHERNET_MISMATCH,
    BOGON,
    BROADCAST_ADDRESS,
    ARP_POISONING,
    GATEWAY_MAC_CHANGED,
)


@dataclass(frozen=True, slots=True)
class LanEventSeen:
    kind: str
    ts: float
    ip: str
    mac: str
    old_mac: str = ""
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def subject(self) -> str:
        return f"{self.ip} {self.mac}" + (f" (was {self.old_mac})" if self.old_mac else "")
