"""Layer-2/3 reachability, the pure part: the appliance's interfaces, ARP and ICMP echo frames
built and parsed. The frames leave through the gate (agent/probe/gate.py: `arp_sweep`, `ping`,
`ping_sweep`), which checks scope, capability and rate; this module opens no socket.

Used for host discovery on the local segment, client isolation (3-⑤) and guest → business
separation (3-⑥).
"""

from __future__ import annotations

import ipaddress
import socket
import struct
from dataclasses import dataclass

import netifaces

ETH_P_ARP = 0x0806


@dataclass(frozen=True, slots=True)
class Iface:
    name: str
    mac: str
    ip: str
    network: ipaddress.IPv4Network


def interfaces() -> list[Iface]:
    out = []
    for name in netifaces.interfaces():
        addrs = netifaces.ifaddresses(name)
        link = addrs.get(netifaces.AF_LINK, [{}])[0].get("addr", "")
        for a in addrs.get(netifaces.AF_INET, []):
            if not a.get("addr") or not a.get("netmask") or not link:
                continue
            net = ipaddress.ip_network(f"{a['addr']}/{a['netmask']}", strict=False)
            if net.prefixlen >= 32 or net.is_loopback:
                continue
            out.append(Iface(name, link, a["addr"], net))  # type: ignore[arg-type]
    return out


def iface_for(ip: str, ifaces: list[Iface]) -> Iface | None:
    a = ipaddress.ip_address(ip)
    return next((i for i in ifaces if a in i.network and str(a) != i.ip), None)


def _mac(b: bytes) -> str:
    return ":".join(f"{x:02x}" for x in b)


def arp_request(src_mac: str, src_ip: str, dst_ip: str) -> bytes:
    sm = bytes.fromhex(src_mac.replace(":", ""))
    return (b"\xff" * 6 + sm + struct.pack(">H", ETH_P_ARP)
            + struct.pack(">HHBBH", 1, 0x0800, 6, 4, 1) + sm + socket.inet_aton(src_ip)
            + b"\0" * 6 + socket.inet_aton(dst_ip))


def parse_arp_reply(frame: bytes) -> tuple[str, str] | None:
    if len(frame) < 42 or frame[12:14] != b"\x08\x06":
        return None
    op = struct.unpack(">H", frame[20:22])[0]
    if op != 2:
        return None
    return socket.inet_ntoa(frame[28:32]), _mac(frame[22:28])


def _checksum(b: bytes) -> int:
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack(f">{len(b) // 2}H", b))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return int(~s & 0xFFFF)


def echo_request(ident: int, seq: int) -> bytes:
    hdr = struct.pack(">BBHHH", 8, 0, 0, ident, seq) + b"officeguard"
    return hdr[:2] + struct.pack(">H", _checksum(hdr)) + hdr[4:]


def parse_icmp(packet: bytes, ident: int | None) -> tuple[str, str] | None:
    """A raw IPv4 packet carrying ICMP → ("alive", source) for an echo reply to IDENT,
    ("dead", target) for a destination-unreachable quoting our echo to target; else None."""
    if len(packet) < 28 or packet[0] >> 4 != 4 or packet[9] != 1:
        return None
    icmp = packet[(packet[0] & 0x0F) * 4:]
    if len(icmp) < 8:
        return None
    if icmp[0] == 0 and (ident is None or struct.unpack(">H", icmp[4:6])[0] == ident):
        return "alive", socket.inet_ntoa(packet[12:16])
    if icmp[0] == 3:
        inner = icmp[8:]
        if len(inner) < 28 or inner[9] != 1:
            return None
        echo = inner[(inner[0] & 0x0F) * 4:]
        if len(echo) >= 6 and echo[0] == 8 and (
                ident is None or struct.unpack(">H", echo[4:6])[0] == ident):
            return "dead", socket.inet_ntoa(inner[16:20])
    return None
