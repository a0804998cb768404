"""Capture files: a small, fast pcap / pcapng reader that yields raw frames.

Pure Python with `struct`, no scapy dissection: the same `Frame` stream as the live source.
Damaged files end the stream with a `CaptureError` that says where; frames read before it are kept.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import BinaryIO

LINKTYPE_ETHERNET = 1
LINKTYPE_IEEE802_11 = 105
LINKTYPE_PRISM = 119  # Prism II monitor header (old drivers; some hold an AVS header)
LINKTYPE_RADIOTAP = 127
LINKTYPE_AVS = 163  # AVS / wlan-ng monitor header
LINKTYPE_PPI = 192
SUPPORTED_LINKTYPES = (LINKTYPE_ETHERNET, LINKTYPE_IEEE802_11, LINKTYPE_PRISM,
                       LINKTYPE_RADIOTAP, LINKTYPE_AVS, LINKTYPE_PPI)
# Added to a record's link type when the snap length cut it short (captured < original
# length): its end, where an FCS would be, is missing. Link types are 16 bits, so this bit is
# free; `linktype & LINKTYPE_MASK` is the file's link type.
CUT_SHORT = 0x10000
LINKTYPE_MASK = 0xFFFF

_PCAP_MAGICS = {
    b"\xd4\xc3\xb2\xa1": ("<", 1e-6),
    b"\xa1\xb2\xc3\xd4": (">", 1e-6),
    b"\x4d\x3c\xb2\xa1": ("<", 1e-9),
    b"\xa1\xb2\x3c\x4d": (">", 1e-9),
}
_PCAPNG_SHB = b"\x0a\x0d\x0d\x0a"
MAX_RECORD = 256 * 1024
_BLOCK = 1 << 18  # bytes read at a time from a pcap file
BATCH = 2_000  # records per list from read_batches (a few hundred kB)


# Timestamps outside 1970-01-01 .. 2100-01-01 are not from a real capture: a frame that
# carries one is skipped (and counted), never stored where every page and export would trip
# over it. Also used for values read back from the store (timeutil).
TS_MIN = 0.0
TS_MAX = 4102444800.0


def sane_ts(ts: float) -> bool:
    return TS_MIN <= ts < TS_MAX


class CaptureError(Exception):
    """A capture file that cannot be read (further)."""


@dataclass(frozen=True, slots=True)
class Frame:
    ts: float
    linktype: int
    data: bytes


@dataclass
class ReadStats:
    frames: int = 0
    truncated: str | None = None  # why reading stopped early, if it did
    skipped: int = 0  # frames left out (a timestamp outside 1970..2100)
    skip_reason: str | None = None  # the first such reason
    linktypes: set[int] = field(default_factory=set)  # of the frames read (no CUT_SHORT)


def read_frames(path: str | Path, stats: ReadStats | None = None) -> Iterator[Frame]:
    """Yield every frame of a pcap or pcapng file (see read_records)."""
    for ts, linktype, data in read_records(path, stats):
        yield Frame(ts, linktype, data)


def read_records(path: str | Path, stats: ReadStats | None = None
                 ) -> Iterator[tuple[float, int, bytes]]:
    """Yield (time, link type, bytes) for every frame of a pcap or pcapng file.

    A record cut short at the end of the file (common in real captures) stops the stream and is
    reported through `stats.truncated`; a file that is not a capture raises CaptureError.
    """
    for batch in read_batches(path, stats):
        yield from batch


def read_batches(path: str | Path, stats: ReadStats | None = None, size: int = BATCH
                 ) -> Iterator[list[tuple[float, int, bytes]]]:
    """The records of `read_records`, SIZE at a time (the last list may be shorter): a pcap's
    records are cut in a loop that yields once per list, not once per frame (the generator's
    resumption cost as much as the cutting). `stats.frames` counts the records of the lists
    handed out; `stats.linktypes` gathers the link types of the frames read (without
    CUT_SHORT)."""
    if size < 1:
        raise ValueError(f"read_batches: size must be at least 1, not {size}")
    stats = stats if stats is not None else ReadStats()
    p = Path(path)
    try:
        f = p.open("rb")
    except OSError as exc:
        raise CaptureError(f"{p}: {exc.strerror}") from exc
    with f:
        head = f.read(4)
        if head in _PCAP_MAGICS:
            yield from _read_pcap(f, head, p, stats, size)
        elif head == _PCAPNG_SHB:
            records = _read_pcapng(f, p, stats)
            while batch := list(islice(records, size)):
                stats.linktypes.update(lt & LINKTYPE_MASK for _ts, lt, _d in batch)
                yield batch
        else:
            raise CaptureError(f"{p}: not a pcap or pcapng capture (magic {head.hex() or 'empty'})")


def _read_pcap(f: BinaryIO, magic: bytes, p: Path, stats: ReadStats, size: int
               ) -> Iterator[list[tuple[float, int, bytes]]]:
    endian, unit = _PCAP_MAGICS[magic]
    rest = f.read(20)
    if len(rest) < 20:
        raise CaptureError(f"{p}: pcap header is truncated")
    _vmaj, _vmin, _zone, _sig, _snap, linktype = struct.unpack(endian + "HHiIII", rest)
    linktype &= 0xFFFF
    unpack = struct.Struct(endian + "IIII").unpack_from
    read = f.read
    # Records are cut from large blocks rather than read one by one (two reads a frame cost
    # more than the frame's parsing); a record longer than what is left pulls in the next block.
    buf, pos, have = b"", 0, 0
    lo, hi = TS_MIN, TS_MAX
    cut = linktype | CUT_SHORT
    frames = stats.frames  # counted here, written back after each list
    done = False
    while not done:
        batch: list[tuple[float, int, bytes]] = []
        add = batch.append
        left = size
        while left:
            if have - pos < 16:
                buf = buf[pos:] + read(_BLOCK)
                pos, have = 0, len(buf)
                if have == 0:
                    done = True
                    break
                if have < 16:
                    stats.truncated = f"record header cut short after frame {frames}"
                    done = True
                    break
            sec, frac, incl, orig = unpack(buf, pos)
            if incl > MAX_RECORD:
                stats.truncated = f"implausible record length {incl} after frame {frames}"
                done = True
                break
            start = pos + 16
            end = start + incl
            if end > have:
                buf = buf[pos:] + read(max(_BLOCK, end - have))
                start, end, pos, have = 16, 16 + incl, 0, len(buf)
                if end > have:
                    stats.truncated = f"record cut short after frame {frames}"
                    done = True
                    break
            pos = end
            ts = sec + frac * unit
            if not lo <= ts < hi:
                _skip(stats, f"frame {frames + stats.skipped + 1}: timestamp {ts:.0f} is "
                      "outside 1970..2100")
                continue
            frames += 1
            left -= 1
            add((ts, cut if incl < orig else linktype, buf[start:end]))
        stats.frames = frames
        if batch:
            stats.linktypes.add(linktype)
            yield batch


def _skip(stats: ReadStats, why: str) -> None:
    stats.skipped += 1
    if stats.skip_reason is None:
        stats.skip_reason = why


def _read_pcapng(f: BinaryIO, p: Path, stats: ReadStats
                 ) -> Iterator[tuple[float, int, bytes]]:
    # Section header: we have read the block type; next is the total length, then the BOM.
    raw = f.read(8)
    if len(raw) < 8:
        raise CaptureError(f"{p}: pcapng section header is truncated")
    bom = raw[4:8]
    if bom == b"\x4d\x3c\x2b\x1a":
        e = "<"
    elif bom == b"\x1a\x2b\x3c\x4d":
        e = ">"
    else:
        raise CaptureError(f"{p}: pcapng byte-order magic is wrong")
    (shb_len,) = struct.unpack(e + "I", raw[:4])
    if shb_len < 28 or shb_len > MAX_RECORD:
        raise CaptureError(f"{p}: pcapng section header length {shb_len} is invalid")
    f.read(shb_len - 12)
    interfaces: list[tuple[int, float]] = []
    u32 = struct.Struct(e + "I")
    while True:
        hdr = f.read(8)
        if not hdr:
            return
        if len(hdr) < 8:
            stats.truncated = f"block header cut short after frame {stats.frames}"
            return
        btype, blen = struct.unpack(e + "II", hdr)
        if blen < 12 or blen % 4 or blen > MAX_RECORD + 64:
            stats.truncated = f"invalid block length {blen} after frame {stats.frames}"
            return
        body = f.read(blen - 8)
        if len(body) < blen - 8:
            stats.truncated = f"block cut short after frame {stats.frames}"
            return
        body = body[:-4]
        if btype == 0x0A0D0D0A:  # a new section: byte order may change
            if body[:4] == b"\x4d\x3c\x2b\x1a":
                e = "<"
            elif body[:4] == b"\x1a\x2b\x3c\x4d":
                e = ">"
            u32 = struct.Struct(e + "I")
            interfaces = []
        elif btype == 1:  # interface description
            if len(body) < 8:
                continue
            linktype = struct.unpack(e + "H", body[:2])[0]
            interfaces.append((linktype, _if_tsresol(body[8:], e)))
        elif btype == 6:  # enhanced packet
            if len(body) < 20:
                continue
            iface, ts_hi, ts_lo, cap_len, orig_len = struct.unpack(e + "IIIII", body[:20])
            if iface >= len(interfaces):
                continue
            linktype, unit = interfaces[iface]
            data = body[20 : 20 + cap_len]
            ts = ((ts_hi << 32) | ts_lo) * unit
            if not sane_ts(ts):
                _skip(stats, f"frame {stats.frames + stats.skipped + 1}: timestamp {ts:.0f} "
                      "is outside 1970..2100")
                continue
            stats.frames += 1
            if cap_len < orig_len:
                linktype |= CUT_SHORT
            yield ts, linktype, data
        elif btype == 3:  # simple packet: interface 0, no timestamp
            if not interfaces or len(body) < 4:
                continue
            (orig_len,) = u32.unpack(body[:4])
            stats.frames += 1
            yield 0.0, interfaces[0][0], body[4 : 4 + orig_len]


def _if_tsresol(opts: bytes, e: str) -> float:
    """The interface's timestamp unit from its options (default: microseconds). An option
    whose value is missing or runs past the block is ignored; so is a resolution coarser than
    a second or finer than 10^-19 s (2^-63 s), which no capture uses."""
    i = 0
    while i + 4 <= len(opts):
        code, length = struct.unpack(e + "HH", opts[i : i + 4])
        if code == 0:
            break
        if i + 4 + length > len(opts):
            break  # the option claims more bytes than the block holds
        if code == 9 and length >= 1:
            v = opts[i + 4]
            exp = v & 0x7F
            if (v & 0x80 and exp <= 63) or (not v & 0x80 and exp <= 19):
                return 2.0 ** -exp if v & 0x80 else 10.0 ** -exp
            return 1e-6
        i += 4 + ((length + 3) & ~3)
    return 1e-6


def write_pcap(path: str | Path, linktype: int, frames: list[tuple[float, bytes]]) -> None:
    """Write a classic little-endian pcap (tests and benchmarks generate captures with this)."""
    with Path(path).open("wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, linktype))
        for ts, data in frames:
            sec = int(ts)
            usec = int(round((ts - sec) * 1e6))
            if usec >= 1_000_000:
                sec, usec = sec + 1, usec - 1_000_000
            f.write(struct.pack("<IIII", sec, usec, len(data), len(data)))
            f.write(data)
