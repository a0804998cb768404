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


_CACHE: dict[bytes, tuple[int, str, str, str, str]] = {}
_CACHE_MAX = 8192  # ARP repeats itself: decoded addresses of recent packets are kept


def parse_arp_payload(ts: float, payload: bytes, link_src: bytes = b"") -> ArpSeen | None:
    key = bytes(payload[:28])
    hit = _CACHE.get(key)
    if hit is None:
        if len(key) < 28:
            return None
        if key[0:2] != b"\x00\x01" or key[2:4] != b"\x08\x00" or key[4] != 6 or key[5] != 4:
            return None
        op = (key[6] << 8) | key[7]
        if op not in (OP_REQUEST, OP_REPLY):
            return None
        hit = (op, _mac(key[8:14]), _ip(key[14:18]), _mac(key[18:24]), _ip(key[24:28]))
        if len(_CACHE) >= _CACHE_MAX:
            _CACHE.clear()
        _CACHE[key] = hit
    op, smac, sip, tmac, tip = hit
    return ArpSeen(ts, op, smac, sip, tmac, tip, _mac(link_src) if len(link_src) == 6 else "")


def parse_arp_frame(ts: float, linktype: int, data: bytes) -> ArpSeen | None:
    """ARP from any supported capture link type, or None when the frame is not ARP."""
    np = network_payload(linktype, data)
    if np is None or np.ethertype != ETH_ARP:
        return None
    return parse_arp_payload(ts, np.payload, np.src)
