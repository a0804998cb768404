"""Builders for ARP frames in every link type the pipeline reads (tests and benchmarks)."""

from __future__ import annotations

import socket
import struct


def mac_b(s: str) -> bytes:
    return bytes.fromhex(s.replace(":", ""))


def arp_payload(op: int, smac: str, sip: str, tmac: str, tip: str) -> bytes:
    return (struct.pack("!HHBBH", 1, 0x0800, 6, 4, op) + mac_b(smac) + socket.inet_aton(sip)
            + mac_b(tmac) + socket.inet_aton(tip))


def ether_arp(op: int, smac: str, sip: str, tmac: str = "00:00:00:00:00:00",
              tip: str = "0.0.0.0", eth_src: str | None = None,
              eth_dst: str = "ff:ff:ff:ff:ff:ff", vlan: int | None = None) -> bytes:
    tag = struct.pack("!HH", 0x8100, vlan) if vlan is not None else b""
    return (mac_b(eth_dst) + mac_b(eth_src or smac) + tag + b"\x08\x06"
            + arp_payload(op, smac, sip, tmac, tip))


def dot11_arp(op: int, smac: str, sip: str, tmac: str, tip: str, bssid: str) -> bytes:
    """An unprotected To-DS 802.11 data frame carrying ARP over LLC/SNAP."""
    hdr = (b"\x08\x01" + b"\x00\x00" + mac_b(bssid) + mac_b(smac) + mac_b("ff:ff:ff:ff:ff:ff")
           + b"\x00\x00")
    return hdr + b"\xaa\xaa\x03\x00\x00\x00\x08\x06" + arp_payload(op, smac, sip, tmac, tip)


def radiotap(frame: bytes) -> bytes:
    # version 0, length 8, present = 0: the smallest valid radiotap header
    return b"\x00\x00\x08\x00\x00\x00\x00\x00" + frame


def ppi(frame: bytes) -> bytes:
    return b"\x00\x00\x08\x00" + struct.pack("<I", 105) + frame
