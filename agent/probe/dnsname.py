"""DNS names in wire format (RFC 1035 4.1.4, compression pointers followed at most 16 times).
Pure: shared by the mDNS parser (udp.py) and the DNS version.bind probe (services.py)."""

from __future__ import annotations


def read_name(buf: bytes, i: int, depth: int = 0) -> tuple[str, int]:
    labels, jumped, end = [], False, i
    while True:
        if i >= len(buf) or depth > 16:
            raise ValueError("bad name")
        n = buf[i]
        if n == 0:
            i += 1
            break
        if n & 0xC0 == 0xC0:
            if i + 1 >= len(buf):
                raise ValueError("bad pointer")
            ptr = ((n & 0x3F) << 8) | buf[i + 1]
            if not jumped:
                end = i + 2
            jumped = True
            i = ptr
            depth += 1
            continue
        labels.append(buf[i + 1:i + 1 + n].decode("utf-8", "replace"))
        i += 1 + n
    return ".".join(labels), (end if jumped else i)
