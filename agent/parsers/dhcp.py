"""Passive OS hints from what devices announce on the LAN: DHCP (option 55 parameter request
list, option 60 vendor class, option 12 host name), mDNS, LLMNR and NetBIOS name service. Pure:
an IPv4/UDP packet in, a `Hint` (OS family, device class, host name, and the packet fields that
said so) out. Nothing here sends anything.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass, field
from typing import Any

DHCP_PORTS = (67, 68)
MDNS_PORT, LLMNR_PORT, NBNS_PORT = 5353, 5355, 137
# what the LAN sensor's kernel filter lets through besides ARP
BPF_LAN = "arp or (udp and (port 67 or port 68 or port 5353 or port 5355 or port 137))"
_MAGIC = b"\x63\x82\x53\x63"

# DHCP option 55 lists as the clients send them (order matters); written from the clients'
# own sources and observed requests, OS family and device class.
PRL: dict[tuple[int, ...], tuple[str, str]] = {
    (1, 3, 6, 15, 31, 33, 43, 44, 46, 47, 119, 121, 249, 252): ("Windows", "pc"),  # 10 / 11
    (1, 15, 3, 6, 44, 46, 47, 31, 33, 121, 249, 43): ("Windows", "pc"),  # 7 / 8
    (1, 15, 3, 6, 44, 46, 47, 31, 33, 121, 249, 43, 252): ("Windows", "pc"),  # 8.1
    (1, 121, 3, 6, 15, 108, 114, 119, 252, 95, 44, 46): ("macOS", "pc"),  # macOS 12+
    (1, 121, 3, 6, 15, 119, 252, 95, 44, 46): ("macOS", "pc"),  # macOS 10.x / 11
    (1, 121, 3, 6, 15, 108, 114, 119, 252): ("iOS", "phone"),  # iOS / iPadOS 16+
    (1, 121, 3, 6, 15, 119, 252): ("iOS", "phone"),
    (1, 3, 6, 15, 26, 28, 51, 58, 59, 43): ("Android", "phone"),
    (1, 3, 6, 15, 26, 28, 51, 58, 59, 43, 114, 108): ("Android", "phone"),
    (1, 28, 2, 3, 15, 6, 119, 12, 44, 47, 26, 121, 42): ("Linux", "pc"),  # ISC dhclient
    (1, 3, 6, 12, 15, 28, 42, 51, 54, 58, 59, 119): ("Linux", "other"),  # systemd-networkd
    (1, 3, 6, 12, 15, 28, 42): ("Linux", "other"),  # busybox udhcpc default
}
_VENDOR = [
    (re.compile(r"^MSFT 5\.0"), "Windows", "pc"),
    (re.compile(r"^MSFT 98"), "Windows", "pc"),
    (re.compile(r"^android-dhcp-(\d+)"), "Android", "phone"),
    (re.compile(r"^dhcpcd-[\d.]+:Linux-[^:]*:[^:]*:Raspberry Pi"), "Raspberry Pi OS", "pc"),
    (re.compile(r"^dhcpcd-[\d.]+:Linux"), "Linux", "other"),
    (re.compile(r"^udhcp"), "Linux (embedded)", "other"),
    (re.compile(r"^Cisco"), "Cisco", "network"),
]
_HOSTNAME = [
    (re.compile(r"^(DESKTOP|LAPTOP)-[A-Z0-9]{7}$"), "Windows", "pc"),
    (re.compile(r"iPhone|iPad", re.I), "iOS", "phone"),
    (re.compile(r"MacBook|iMac|Mac-mini|Mac-Studio", re.I), "macOS", "pc"),
    (re.compile(r"^raspberrypi$", re.I), "Raspberry Pi OS", "pc"),
    (re.compile(r"^android-", re.I), "Android", "phone"),
]
_MDNS_SERVICE_CLASS = {"_ipp._tcp": "printer", "_ipps._tcp": "printer",
                       "_pdl-datastream._tcp": "printer", "_printer._tcp": "printer",
                       "_airplay._tcp": "media", "_googlecast._tcp": "media",
                       "_smb._tcp": "pc", "_companion-link._tcp": "phone",
                       "_rtsp._tcp": "camera", "_axis-video._tcp": "camera"}


@dataclass
class Hint:
    source: str  # dhcp | mdns | llmnr | netbios
    mac: str
    ip: str = ""
    family: str = ""
    device_class: str = ""
    hostname: str = ""
    evidence: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Udp:
    src_ip: str
    dst_ip: str
    sport: int
    dport: int
    payload: bytes


def _ip(b: bytes) -> str:
    return ".".join(str(x) for x in b)


def udp_of_ipv4(pkt: bytes) -> Udp | None:
    """IPv4 packet → its UDP datagram (None if it is not an unfragmented UDP datagram)."""
    if len(pkt) < 28 or pkt[0] >> 4 != 4 or pkt[9] != 17:
        return None
    ihl = (pkt[0] & 0xF) * 4
    if ihl < 20 or len(pkt) < ihl + 8 or struct.unpack_from(">H", pkt, 6)[0] & 0x3FFF:
        return None
    sport, dport, ln = struct.unpack_from(">HHH", pkt, ihl)
    return Udp(_ip(pkt[12:16]), _ip(pkt[16:20]), sport, dport,
               pkt[ihl + 8:ihl + max(ln, 8)])


def _mac(b: bytes) -> str:
    return ":".join(f"{x:02x}" for x in b)


def _text(b: bytes) -> str:
    return "".join(c if c.isprintable() else "?" for c in b.decode("utf-8", "replace"))[:128]


def dhcp(payload: bytes) -> Hint | None:
    """A DHCP client message (DISCOVER / REQUEST / INFORM) → a hint with its evidence."""
    if len(payload) < 240 or payload[0] != 1 or payload[236:240] != _MAGIC:
        return None
    hlen = min(payload[2], 16)
    mac = _mac(payload[28:28 + hlen]) if hlen == 6 else ""
    opts: dict[int, bytes] = {}
    i = 240
    while i < len(payload):
        code = payload[i]
        if code == 255:
            break
        if code == 0:
            i += 1
            continue
        if i + 1 >= len(payload):
            break
        ln = payload[i + 1]
        opts.setdefault(code, payload[i + 2:i + 2 + ln])
        i += 2 + ln
    if 53 not in opts or not opts[53] or opts[53][0] not in (1, 3, 8):
        return None
    h = Hint("dhcp", mac)
    prl = tuple(opts.get(55, b""))
    vendor = _text(opts.get(60, b""))
    host = _text(opts.get(12, b""))
    if 50 in opts and len(opts[50]) == 4:
        h.ip = _ip(opts[50])
    elif payload[12:16] != b"\0\0\0\0":
        h.ip = _ip(payload[12:16])
    h.hostname = host
    h.evidence = {"message_type": opts[53][0], "option55": list(prl), "option60": vendor,
                  "option12": host}
    for rx, fam, cls in _VENDOR:
        if vendor and rx.search(vendor):
            h.family, h.device_class = fam, cls
            h.evidence["matched"] = "option60"
            return h
    if prl in PRL:
        h.family, h.device_class = PRL[prl]
        h.evidence["matched"] = "option55"
        return h
    return _by_hostname(h, host, "option12")


def _by_hostname(h: Hint, host: str, field_: str) -> Hint:
    for rx, fam, cls in _HOSTNAME:
        if host and rx.search(host):
            h.family, h.device_class = fam, cls
            h.evidence["matched"] = field_
            break
    return h


# -- DNS-shaped messages (mDNS, LLMNR) ------------------------------------------------------
def _name(msg: bytes, i: int, depth: int = 0) -> tuple[str, int]:
    labels: list[str] = []
    end = -1
    while i < len(msg):
        n = msg[i]
        if n == 0:
            i += 1
            break
        if n & 0xC0 == 0xC0:
            if i + 1 >= len(msg) or depth > 10:
                raise ValueError("bad pointer")
            ptr = ((n & 0x3F) << 8) | msg[i + 1]
            if end < 0:
                end = i + 2
            tail, _ = _name(msg, ptr, depth + 1)
            labels.append(tail)
            i = end
            return ".".join(x for x in labels if x), end
        labels.append(msg[i + 1:i + 1 + n].decode("utf-8", "replace"))
        i += 1 + n
    else:
        raise ValueError("name runs past the message")
    return ".".join(labels), (end if end >= 0 else i)


def dns_records(msg: bytes) -> tuple[list[str], list[tuple[str, int, bytes]]]:
    """(question names, [(name, type, rdata)]) of a DNS-format message; ValueError if bad."""
    if len(msg) < 12:
        raise ValueError("short DNS message")
    qd, an, ns, ar = struct.unpack_from(">HHHH", msg, 4)
    i = 12
    qs = []
    for _ in range(min(qd, 64)):
        name, i = _name(msg, i)
        i += 4
        qs.append(name)
    rrs = []
    for _ in range(min(an + ns + ar, 256)):
        name, i = _name(msg, i)
        if i + 10 > len(msg):
            raise ValueError("truncated record")
        rtype, _cls, _ttl, rdlen = struct.unpack_from(">HHIH", msg, i)
        i += 10
        rrs.append((name, rtype, msg[i:i + rdlen]))
        i += rdlen
    return qs, rrs


def mdns(payload: bytes, mac: str, src_ip: str) -> Hint | None:
    """An mDNS response: host name (A record), services (PTR), Apple's _device-info model and
    HINFO → hint. Queries alone say little and are skipped."""
    try:
        if len(payload) < 12 or not payload[2] & 0x80:
            return None
        _qs, rrs = dns_records(payload)
    except ValueError:
        return None
    h = Hint("mdns", mac, src_ip)
    services: list[str] = []
    for name, rtype, rdata in rrs:
        if rtype == 1 and name.endswith(".local") and not h.hostname:
            h.hostname = name.removesuffix(".local")
        elif rtype == 12:
            svc = name.removesuffix(".local")
            if svc.startswith("_") and svc not in services:
                services.append(svc)
        elif rtype == 16 and name.startswith(h.hostname or "") and "_device-info." in name:
            txt = _txt(rdata)
            model = txt.get("model", "")
            h.evidence["device_info_model"] = model
            if model.startswith(("MacBook", "iMac", "Macmini", "MacPro", "Mac1", "Mac")):
                h.family, h.device_class = "macOS", "pc"
            elif model.startswith(("iPhone", "iPad")):
                h.family, h.device_class = "iOS", "phone"
        elif rtype == 13:
            cpu_len = rdata[0] if rdata else 0
            h.evidence["hinfo"] = _text(rdata[1:1 + cpu_len])
    h.evidence["services"] = services[:20]
    if not h.device_class:
        for s in services:
            if s in _MDNS_SERVICE_CLASS:
                h.device_class = _MDNS_SERVICE_CLASS[s]
                break
    if not h.family and h.hostname:
        _by_hostname(h, h.hostname, "mdns A record")
    if h.family or h.device_class or h.hostname:
        h.evidence.setdefault("matched", "mdns")
        return h
    return None


def _txt(rdata: bytes) -> dict[str, str]:
    out: dict[str, str] = {}
    i = 0
    while i < len(rdata):
        n = rdata[i]
        k, _, v = rdata[i + 1:i + 1 + n].decode("utf-8", "replace").partition("=")
        out[k] = v
        i += 1 + n
    return out


def llmnr(payload: bytes, mac: str, src_ip: str) -> Hint | None:
    """An LLMNR query: Windows (and systemd-resolved) resolvers send them; the name asked."""
    try:
        if len(payload) < 12 or payload[2] & 0x80:
            return None
        qs, _ = dns_records(payload)
    except ValueError:
        return None
    if not qs:
        return None
    return Hint("llmnr", mac, src_ip, "Windows", "", "",
                {"query": qs[0][:64], "matched": "llmnr query (Windows resolver; also "
                                                 "systemd-resolved)"})


def _nb_decode(enc: bytes) -> tuple[str, int]:
    if len(enc) != 32:
        raise ValueError("bad NetBIOS name")
    raw = bytes(((enc[i] - 0x41) << 4) | (enc[i + 1] - 0x41) for i in range(0, 32, 2))
    return raw[:15].decode("ascii", "replace").rstrip(), raw[15]


def netbios(payload: bytes, mac: str, src_ip: str) -> Hint | None:
    """A NetBIOS name service registration / refresh (opcode 5 / 8/9): the machine's name;
    suffix 0x20 = a file server (Windows or Samba)."""
    if len(payload) < 12 + 34:
        return None
    opcode = (payload[2] >> 3) & 0xF
    if opcode not in (5, 8, 9) or payload[12] != 32:
        return None
    try:
        name, suffix = _nb_decode(payload[13:45])
    except ValueError:
        return None
    # the additional record's NB_FLAGS: a group name (the workgroup) says nothing of the machine
    if len(payload) >= 64 and payload[50] & 0xC0 == 0xC0 and payload[62] & 0x80:
        return None
    h = Hint("netbios", mac, src_ip, "Windows or Samba", "pc" if suffix == 0x20 else "",
             name, {"name": name, "suffix": f"0x{suffix:02x}", "opcode": opcode,
                    "matched": "netbios registration"})
    _by_hostname(h, name, "netbios name")
    return h


def hint_from_udp(u: Udp, mac: str) -> Hint | None:
    if u.sport == 68 and u.dport == 67:
        return dhcp(u.payload)
    if u.sport == MDNS_PORT or u.dport == MDNS_PORT:
        return mdns(u.payload, mac, u.src_ip)
    if u.dport == LLMNR_PORT:
        return llmnr(u.payload, mac, u.src_ip)
    if u.dport == NBNS_PORT:
        return netbios(u.payload, mac, u.src_ip)
    return None
