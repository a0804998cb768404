"""ARP (Ethernet/IPv4) parser."""

from __future__ import annotations

from dataclasses import dataclass

from agent.parsers.link import ETH_ARP, network_payload

OP_REQUEST = 1
OP_REPLY = 2


@dataclass(frozen=True, slots=True)
class ArpSeen:
    """One ARP packet: who claims which address, and what it asks for."""

    ts: float
    op: int
    sender_mac: str
    sender_ip: str
    target_mac: str
    target_ip: str
    link_src: str  # Ethernet / 802.11 source address, "" when the capture has none

    @property
    def gratuitous(self) -> bool:
        return self.sender_ip == self.target_ip and self.sender_ip != "0.0.0.0"

    @property
    def probe(self) -> bool:
        """RFC 5227 probe: a host checking that an address is free before it takes it."""
        return self.sender_ip == "0.0.0.0"


def _mac(b: bytes) -> str:
    return b.hex(":")


def _ip(b: bytes) -> str:
    return f"{b[0]}.{b[1]}.{b[2]}.{b[3]}"


def parse_arp_payload(ts: float, payload: bytes, link_src: bytes = b"") -> ArpSeen | None:
    if len(payload) < 28:
        return None
    if payload[0:2] != b"\x00\x01" or payload[2:4] != b"\x08\x00":
        return None
    if payload[4] != 6 or payload[5] != 4:
        return None
    op = (payload[6] << 8) | payload[7]
    if op not in (OP_REQUEST, OP_REPLY):
        return None
    return ArpSeen(
        ts=ts,
        op=op,
        sender_mac=_mac(payload[8:14]),
        sender_ip=_ip(payload[14:18]),
        target_mac=_mac(payload[18:24]),
        target_ip=_ip(payload[24:28]),
        link_src=_mac(link_src) if len(link_src) == 6 else "",
    )


def parse_arp_frame(ts: float, linktype: int, data: bytes) -> ArpSeen | None:
    """ARP from any supported capture link type, or None when the frame is not ARP."""
    np = network_payload(linktype, data)
    if np is None or np.ethertype != ETH_ARP:
        return None
    return parse_arp_payload(ts, np.payload, np.src)
