"""A tiny pcapng writer for tests: section, interface (with raw options), enhanced packets."""

from __future__ import annotations

import struct


def _block(btype: int, body: bytes) -> bytes:
    body += b"\x00" * (-len(body) % 4)
    n = len(body) + 12
    return struct.pack("<II", btype, n) + body + struct.pack("<I", n)


def shb() -> bytes:
    return _block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))


def option(code: int, value: bytes) -> bytes:
    return struct.pack("<HH", code, len(value)) + value + b"\x00" * (-len(value) % 4)


def idb(linktype: int, options: bytes = b"") -> bytes:
    return _block(1, struct.pack("<HHI", linktype, 0, 262144) + options)


def epb(ts_units: int, data: bytes, iface: int = 0) -> bytes:
    return _block(6, struct.pack("<IIIII", iface, ts_units >> 32, ts_units & 0xFFFFFFFF,
                                 len(data), len(data)) + data)
