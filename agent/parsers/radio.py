"""Radio headers of monitor-mode captures: radiotap (DLT 127), PPI (DLT 192), and the Prism
(DLT 119) and AVS (DLT 163) headers of older drivers and captures.

Pure and defensive: a header that lies about its length or presence bits gives `None`, never an
exception. Only the fields the Wi-Fi sensor uses are decoded (TSFT, flags, rate, channel,
antenna signal); alignment follows the radiotap rules (each field aligned to its natural size,
counted from the start of the header, after every extended presence bitmap).
"""

from __future__ import annotations

import struct
from typing import Any

from agent.capture import (
    CUT_SHORT,
    LINKTYPE_AVS,
    LINKTYPE_IEEE802_11,
    LINKTYPE_MASK,
    LINKTYPE_PPI,
    LINKTYPE_PRISM,
    LINKTYPE_RADIOTAP,
)

FLAG_FCS = 0x10  # radiotap flags: the frame ends with a 4-byte FCS
FLAG_BAD_FCS = 0x40


class RadioInfo:
    """Radio facts of one frame. Frequency, signal and flags are decoded at once (every frame
    needs them); TSFT, rate and channel flags only when asked, from the bytes they sit in."""

    __slots__ = ("frequency_mhz", "signal_dbm", "flags", "_lazy")

    def __init__(self, frequency_mhz: int | None = None, signal_dbm: int | None = None,
                 flags: int | None = None, tsft: int | None = None,
                 rate_500kbps: int | None = None, channel_flags: int | None = None,
                 _lazy: tuple[bytes, int, int, int] | None = None) -> None:
        self.frequency_mhz = frequency_mhz
        self.signal_dbm = signal_dbm
        self.flags = flags
        self._lazy: tuple[Any, ...] = _lazy or (None, tsft, rate_500kbps, channel_flags)

    def _get(self, i: int) -> int | None:
        data = self._lazy[0]
        if data is None:
            v: int | None = self._lazy[i]
            return v
        o = self._lazy[i]
        if o < 0:
            return None
        if i == 1:
            return int.from_bytes(data[o:o + 8], "little")
        if i == 2:
            return int(data[o])
        return int(data[o + 2] | (data[o + 3] << 8))

    @property
    def tsft(self) -> int | None:
        return self._get(1)

    @property
    def rate_500kbps(self) -> int | None:
        return self._get(2)

    @property
    def channel_flags(self) -> int | None:
        return self._get(3)

    def __repr__(self) -> str:
        return (f"RadioInfo(frequency_mhz={self.frequency_mhz}, signal_dbm={self.signal_dbm}, "
                f"flags={self.flags}, tsft={self.tsft})")


NO_RADIO = RadioInfo()


def _s8(b: int) -> int:
    return b - 256 if b > 127 else b


_LAYOUTS: dict[bytes, tuple[int, int, int, int, int, int] | None] = {}


def _layout(data: bytes, hlen: int) -> tuple[int, int, int, int, int, int] | None:
    """Offsets (tsft, flags, rate, channel, signal, end-of-fields) for one presence layout;
    -1 where a field is absent. None when the header cannot hold what it announces."""
    present = data[4] | (data[5] << 8) | (data[6] << 16) | (data[7] << 24)
    off = 8
    p = present
    while p & 0x80000000:  # extended presence bitmaps follow
        if off + 4 > hlen:
            return None
        p = data[off] | (data[off + 1] << 8) | (data[off + 2] << 16) | (data[off + 3] << 24)
        off += 4
    tsft = flags = rate = chan = sig = -1
    if present & 0x1:
        off = (off + 7) & ~7
        tsft, off = off, off + 8
    if present & 0x2:
        flags, off = off, off + 1
    if present & 0x4:
        rate, off = off, off + 1
    if present & 0x8:
        off = (off + 1) & ~1
        chan, off = off, off + 4
    if present & 0x10:  # FHSS: hop set, hop pattern
        off += 2
    if present & 0x20:
        sig, off = off, off + 1
    if off > hlen:
        return None
    return tsft, flags, rate, chan, sig, off


def radiotap_layout(data: bytes) -> tuple[int, int, int, int, int, int] | None:
    """The offsets of a radiotap header's fields (see `_layout`), or None when the header is
    unusable. The offsets depend only on the presence bitmaps and the header length, which
    repeat for every frame of a capture, so they are computed once per layout."""
    n = len(data)
    if n < 8 or data[0] != 0:
        return None
    hlen = data[2] | (data[3] << 8)
    if hlen < 8 or hlen > n:
        return None
    if data[7] & 0x80:  # extended bitmaps: the key is the length and every bitmap
        end = 8
        while end + 4 <= hlen and data[end - 1] & 0x80:
            end += 4
        key = data[2:end]
    else:
        key = data[2:8]
    try:
        return _LAYOUTS[key]
    except KeyError:
        lay = _layout(data, hlen)
        if len(_LAYOUTS) < 256:
            _LAYOUTS[key] = lay
        return lay


# the hot loop's layouts by a radiotap header's first eight bytes (filled by hot_layout)
HOT_LAYOUTS: dict[bytes, tuple[int, int, int, int] | None] = {}


def hot_layout(data: bytes) -> tuple[int, int, int, int] | None:
    """For the pipeline's hot loop: (header length, flags, channel and signal offsets, -1
    where absent) of a radiotap header whose first eight bytes (version 0, pad, length, one
    presence bitmap) decide them all, looked up by those bytes; None for anything else (another
    version, extended bitmaps, a header that cannot hold its fields or is cut short), which
    then takes the whole path (`parse_radiotap`)."""
    key = data[:8]
    try:
        return HOT_LAYOUTS[key]
    except KeyError:
        pass
    if len(key) < 8 or (data[2] | (data[3] << 8)) > len(data):
        return None  # this frame is short, not the layout: not remembered
    lay = None
    if key[0] == 0 and not key[7] & 0x80:
        full = radiotap_layout(data)
        if full is not None:
            lay = (data[2] | (data[3] << 8), full[1], full[3], full[4])
    if len(HOT_LAYOUTS) < 256:
        HOT_LAYOUTS[key] = lay
    return lay


def parse_radiotap(data: bytes, fcs_kept: bool = True) -> tuple[RadioInfo, bytes] | None:
    """(radio info, 802.11 frame without FCS) or None when the header is unusable.

    FCS_KEPT is False when the snap length cut the record short: then the flags may say "FCS
    at end" but the end, FCS and all, was not captured, and nothing is stripped.
    """
    lay = radiotap_layout(data)
    if lay is None:
        return None
    n = len(data)
    hlen = data[2] | (data[3] << 8)
    tsft_o, flags_o, rate_o, chan_o, sig_o, _end = lay
    flags = data[flags_o] if flags_o >= 0 else None
    freq = (data[chan_o] | (data[chan_o + 1] << 8)) if chan_o >= 0 else None
    sig = data[sig_o] if sig_o >= 0 else None
    info = RadioInfo(freq or None, (sig - 256 if sig > 127 else sig) if sig is not None else None,
                     flags, None, None, None, (data, tsft_o, rate_o, chan_o))
    if flags is not None and flags & FLAG_FCS and fcs_kept and n - hlen >= 4:
        return info, data[hlen:-4]
    return info, data[hlen:]


def parse_ppi(data: bytes, fcs_kept: bool = True) -> tuple[RadioInfo, bytes] | None:
    n = len(data)
    if n < 8 or data[0] != 0:
        return None
    aligned = data[1] & 0x1
    hlen = data[2] | (data[3] << 8)
    dlt = int.from_bytes(data[4:8], "little")
    if hlen < 8 or hlen > n or dlt != LINKTYPE_IEEE802_11:
        return None
    off = 8
    info = NO_RADIO
    fcs = False
    while off + 4 <= hlen:
        ftype = data[off] | (data[off + 1] << 8)
        flen = data[off + 2] | (data[off + 3] << 8)
        body = off + 4
        if body + flen > hlen:
            break
        if ftype == 2 and flen >= 20:  # 802.11-Common
            fl = data[body + 8] | (data[body + 9] << 8)
            fcs = bool(fl & 0x1)
            freq = data[body + 12] | (data[body + 13] << 8)
            sig = _s8(data[body + 18])
            info = RadioInfo(
                frequency_mhz=freq or None,
                signal_dbm=sig if sig != -128 and (sig or freq) else None,
                flags=FLAG_FCS if fcs else 0,
                tsft=int.from_bytes(data[body:body + 8], "little"),
                rate_500kbps=data[body + 10] | (data[body + 11] << 8),
                channel_flags=data[body + 14] | (data[body + 15] << 8),
            )
        off = body + (((flen + 3) & ~3) if aligned else flen)
    frame = data[hlen:]
    if fcs and fcs_kept and len(frame) >= 4:
        frame = frame[:-4]
    return info, frame


# Prism II (wlan-ng) items: DID → field, for the two DID numberings drivers used
_PRISM_CHANNEL = (0x00030044, 0x00003041)
_PRISM_RSSI = (0x00040044, 0x00004041)
_PRISM_RATE = (0x00080044, 0x00008041)
_PRISM_MACTIME = (0x00020044, 0x00002041)
_AVS_MAGIC = (0x80211001, 0x80211002)


def _channel_freq(channel: int) -> int | None:
    if 1 <= channel <= 14:
        return freq_of(channel, "2.4GHz")
    if 32 <= channel <= 177:
        return freq_of(channel, "5GHz")
    return None


def parse_prism(data: bytes) -> tuple[RadioInfo, bytes] | None:
    """The 144-byte Prism header: message code, length, device name, then 12-byte items
    (DID, status, length, value) in the byte order of the machine that wrote it, told here by
    the message length. A Prism capture may hold AVS headers instead: they are recognised by
    their magic. Signal is the RSSI item (a signed dBm byte), as tshark reads it; a status of
    1 means the driver had no value. Channel only, no frequency: it is derived from the
    channel number."""
    n = len(data)
    if n >= 8 and int.from_bytes(data[:4], "big") in _AVS_MAGIC:
        return parse_avs(data)
    if n < 24:
        return None
    hlen = int.from_bytes(data[4:8], "little")
    e = "<"
    if not 24 <= hlen <= n:
        hlen = int.from_bytes(data[4:8], "big")
        e = ">"
        if not 24 <= hlen <= n:
            return None
    channel = rssi = rate = mactime = None
    item = struct.Struct(e + "IHHI")
    for off in range(24, hlen - 11, 12):
        did, status, _length, value = item.unpack_from(data, off)
        if status != 0:
            continue
        if did in _PRISM_CHANNEL:
            channel = value
        elif did in _PRISM_RSSI:
            rssi = _s8(value & 0xFF)
        elif did in _PRISM_RATE:
            rate = value
        elif did in _PRISM_MACTIME:
            mactime = value
    freq = _channel_freq(channel) if channel is not None else None
    return RadioInfo(frequency_mhz=freq, signal_dbm=rssi, flags=0, tsft=mactime,
                     rate_500kbps=rate), data[hlen:]


_AVS = struct.Struct(">IIQQIIIIIIiiII")  # 64 bytes, network byte order


def parse_avs(data: bytes) -> tuple[RadioInfo, bytes] | None:
    """The AVS (wlan-ng) header: version magic, header length, MAC and host time, PHY type,
    channel, rate (100 kb/s), antenna, priority, SSI type, signal, noise, preamble, encoding.
    Signal counts only when the SSI type says dBm (2), as tshark reads it."""
    if len(data) < _AVS.size:
        return None
    (magic, hlen, mactime, _host, _phy, channel, rate, _ant, _prio, ssi_type, signal,
     _noise, _pre, _enc) = _AVS.unpack_from(data)
    if magic not in _AVS_MAGIC or not _AVS.size <= hlen <= len(data):
        return None
    return RadioInfo(frequency_mhz=_channel_freq(channel), signal_dbm=signal if ssi_type == 2
                     else None, flags=0, tsft=mactime,
                     rate_500kbps=rate // 5 if rate else None), data[hlen:]


def split_radio(linktype: int, data: bytes) -> tuple[RadioInfo, bytes] | None:
    """The radio information and the bare 802.11 frame of a monitor-mode capture record.

    LINKTYPE may carry CUT_SHORT (the record lost its end to the snap length, FCS included)."""
    lt = linktype & LINKTYPE_MASK
    if lt == LINKTYPE_RADIOTAP:
        return parse_radiotap(data, not linktype & CUT_SHORT)
    if lt == LINKTYPE_PPI:
        return parse_ppi(data, not linktype & CUT_SHORT)
    if lt == LINKTYPE_IEEE802_11:
        return NO_RADIO, data
    if lt == LINKTYPE_PRISM:
        return parse_prism(data)
    if lt == LINKTYPE_AVS:
        return parse_avs(data)
    return None


def channel_of(freq: int | None) -> int | None:
    if freq is None:
        return None
    if freq == 2484:
        return 14
    if 2412 <= freq < 2484:
        return (freq - 2407) // 5
    if 5950 <= freq <= 7125:
        return (freq - 5950) // 5
    if 5000 <= freq < 5950:
        return (freq - 5000) // 5
    return None


def freq_of(channel: int, band: str) -> int | None:
    if band == "2.4GHz":
        return 2484 if channel == 14 else 2407 + 5 * channel
    if band == "5GHz":
        return 5000 + 5 * channel
    if band == "6GHz":
        return 5950 + 5 * channel
    return None


def band_of(freq: int | None, channel: int | None) -> str | None:
    if freq is not None:
        if 2400 <= freq < 2500:
            return "2.4GHz"
        if 5925 <= freq <= 7125:
            return "6GHz"
        if 4900 <= freq < 5925:
            return "5GHz"
    if channel is not None:
        return "2.4GHz" if 1 <= channel <= 14 else "5GHz" if 32 <= channel <= 177 else None
    return None
