"""Layer-2/3 reachability from the appliance's side of a network: ARP sweep, ICMP echo.

Used for host discovery on the local segment, client isolation (3-⑤) and guest → business
separation (3-⑥). Every request goes through the same scope gate as the TCP probes.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import socket
import struct
import time
from dataclasses import dataclass

import netifaces

from agent.probe.net import Ctx

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


async def arp_sweep(ctx: Ctx, iface: Iface, targets: list[str], wait_s: float = 1.0
                    ) -> dict[str, str]:
    """ip -> mac for every target on IFACE's segment that answers an ARP request."""
    if not targets:
        return {}
    loop = asyncio.get_running_loop()
    try:
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ARP))
    except PermissionError:  # no CAP_NET_RAW: the caller asks by IP instead
        return {}
    s.bind((iface.name, 0))
    s.setblocking(False)
    found: dict[str, str] = {}
    wanted = set(targets)

    async def receive(until: float) -> None:
        while (left := until - time.monotonic()) > 0:
            try:
                frame = await asyncio.wait_for(loop.sock_recv(s, 2048), left)
            except TimeoutError:
                return
            got = parse_arp_reply(frame)
            if got and got[0] in wanted:
                found.setdefault(got[0], got[1])

    try:
        rx = asyncio.ensure_future(receive(time.monotonic() + 3600))
        for ip in targets:
            await ctx._gate(ip)
            await loop.sock_sendall(s, arp_request(iface.mac, iface.ip, ip))
        await asyncio.sleep(wait_s)
        rx.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await rx
    finally:
        s.close()
    return found


def arp_allowed() -> bool:
    """May this process send ARP (root, or CAP_NET_RAW as the agent ships)?"""
    try:
        socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ARP)).close()
    except (PermissionError, OSError):
        return False
    return True


def _checksum(b: bytes) -> int:
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack(f">{len(b) // 2}H", b))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return int(~s & 0xFFFF)


async def ping(ctx: Ctx, ip: str, timeout: float = 1.0) -> bool:
    """One ICMP echo; True when IP answers."""
    await ctx._gate(ip)
    loop = asyncio.get_running_loop()
    try:
        s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
        raw = True
    except PermissionError:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP)
        raw = False
    s.setblocking(False)
    ctx.bind(s)
    ident = os.getpid() & 0xFFFF
    seq = int(time.monotonic() * 1000) & 0xFFFF
    hdr = struct.pack(">BBHHH", 8, 0, 0, ident, seq) + b"officeguard"
    pkt = hdr[:2] + struct.pack(">H", _checksum(hdr)) + hdr[4:]
    try:
        s.connect((ip, 0))
        await loop.sock_sendall(s, pkt)
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            data = await asyncio.wait_for(loop.sock_recv(s, 2048), left)
            icmp = data[(data[0] & 0x0F) * 4:] if raw else data
            if len(icmp) >= 8 and icmp[0] == 0 and (not raw or struct.unpack(
                    ">HH", icmp[4:8]) == (ident, seq)):
                return True
    except (TimeoutError, OSError):
        return False
    finally:
        s.close()
    return False


def _icmp_socket() -> tuple[socket.socket, bool] | None:
    """A raw ICMP socket (CAP_NET_RAW, what the agent ships with), else the kernel's
    unprivileged ping socket, else None: no ICMP here."""
    try:
        return socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP), True
    except PermissionError:
        pass
    try:
        return socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP), False
    except OSError:
        return None


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


async def ping_sweep(ctx: Ctx, targets: list[str], wait_s: float = 1.0
                     ) -> tuple[set[str], set[str]] | None:
    """One ICMP echo to every target at once (each through the scope gate and the rate limit).
    Returns (alive, dead): dead are the addresses a router reported unreachable. None when this
    process may not send ICMP at all. Waits WAIT_S after the last request, less when every
    target has been heard of."""
    made = _icmp_socket()
    if made is None or not targets:
        return None if made is None else (set(), set())
    s, raw = made
    loop = asyncio.get_running_loop()
    s.setblocking(False)
    ident = (os.getpid() ^ int(time.monotonic() * 1000)) & 0xFFFF
    wanted = set(targets)
    alive: set[str] = set()
    dead: set[str] = set()
    done = asyncio.Event()

    async def receive() -> None:
        while True:
            try:
                data, addr = await loop.sock_recvfrom(s, 2048)
            except OSError:  # an error queued on the socket; the next datagram still counts
                continue
            if raw:
                got = parse_icmp(data, ident)
            else:  # ping socket: the kernel matches our echo id; data is the bare ICMP message
                got = ("alive", addr[0]) if data[:1] == b"\0" else None
            if got and got[1] in wanted and got[1] not in alive:
                (alive if got[0] == "alive" else dead).add(got[1])
                if len(alive | dead) >= len(wanted):
                    done.set()

    try:
        ctx.bind(s)
        rx = asyncio.ensure_future(receive())
        for seq, ip in enumerate(targets):
            await ctx._gate(ip)
            with contextlib.suppress(OSError):  # a local "no route" is no answer, not a crash
                await loop.sock_sendto(s, echo_request(ident, seq & 0xFFFF), (ip, 0))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done.wait(), wait_s)
        rx.cancel()
        with contextlib.suppress(asyncio.CancelledError, OSError):
            await rx
    finally:
        s.close()
    dead -= alive
    return alive, dead
