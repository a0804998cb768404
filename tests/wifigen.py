"""Builders for monitor-mode frames (radiotap + 802.11), for tests, the fuzzer and benchmarks."""

from __future__ import annotations

import struct


def mac_b(s: str) -> bytes:
    return bytes.fromhex(s.replace(":", ""))


def radiotap(frame: bytes, freq: int = 2412, signal: int | None = -50, fcs: bool = False,
             tsft: int | None = 123456) -> bytes:
    present = 0x2 | 0x8  # flags, channel
    fields = b""
    if tsft is not None:
        present |= 0x1
        fields += struct.pack("<Q", tsft)  # offset 8: aligned
    fields += bytes([0x10 if fcs else 0])  # flags
    fields += b"\x00"  # pad the channel field to 2 bytes (there is no rate field)
    fields += struct.pack("<HH", freq, 0x00A0 if freq < 3000 else 0x0140)
    if signal is not None:
        present |= 0x20
        fields += struct.pack("<b", signal)
    hdr = struct.pack("<BBHI", 0, 0, 8 + len(fields), present) + fields
    return hdr + frame + (b"\xde\xad\xbe\xef" if fcs else b"")


def ie(eid: int, body: bytes) -> bytes:
    return bytes([eid, len(body)]) + body


def rsn(pairwise: tuple[int, ...] = (4,), akm: tuple[int, ...] = (2,), group: int = 4,
        mfpc: bool = False, mfpr: bool = False) -> bytes:
    body = struct.pack("<H", 1) + b"\x00\x0f\xac" + bytes([group])
    body += struct.pack("<H", len(pairwise)) + b"".join(b"\x00\x0f\xac" + bytes([p])
                                                          for p in pairwise)
    body += struct.pack("<H", len(akm)) + b"".join(b"\x00\x0f\xac" + bytes([a]) for a in akm)
    body += struct.pack("<H", (0x80 if mfpc else 0) | (0x40 if mfpr else 0))
    return ie(48, body)


def wpa1(pairwise: tuple[int, ...] = (2,), akm: tuple[int, ...] = (2,)) -> bytes:
    body = b"\x00\x50\xf2\x01" + struct.pack("<H", 1) + b"\x00\x50\xf2\x02"
    body += struct.pack("<H", len(pairwise)) + b"".join(b"\x00\x50\xf2" + bytes([p])
                                                          for p in pairwise)
    body += struct.pack("<H", len(akm)) + b"".join(b"\x00\x50\xf2" + bytes([a]) for a in akm)
    return ie(221, body)


def wps(state: int = 2, locked: bool | None = None, manufacturer: str = "ACME") -> bytes:
    def tlv(t: int, v: bytes) -> bytes:
        return struct.pack(">HH", t, len(v)) + v

    body = b"\x00\x50\xf2\x04" + tlv(0x104A, b"\x10") + tlv(0x1044, bytes([state]))
    if locked is not None:
        body += tlv(0x1057, bytes([int(locked)]))
    body += tlv(0x1021, manufacturer.encode())
    return ie(221, body)


def beacon(bssid: str, ssid: bytes | str, channel: int = 1, security: str = "WPA2",
           interval: int = 100, extra: bytes = b"", subtype: int = 8,
           pmf: bool = False, wps_ie: bytes = b"", da: str = "ff:ff:ff:ff:ff:ff",
           tim: bytes | None = None) -> bytes:
    ssid_b = ssid.encode() if isinstance(ssid, str) else ssid
    cap = 0x0401
    elems = ie(0, ssid_b) + ie(1, b"\x82\x84\x8b\x96") + ie(3, bytes([channel]))
    if tim is not None:
        elems += ie(5, tim)
    if security in ("WPA2", "WPA2-TKIP", "WPA3", "WPA2/WPA3", "WPA/WPA2"):
        cap |= 0x10
        if security == "WPA2":
            elems += rsn(mfpc=pmf)
        elif security == "WPA2-TKIP":
            elems += rsn(pairwise=(2, 4))
        elif security == "WPA3":
            elems += rsn(akm=(8,), mfpc=True, mfpr=True)
        elif security == "WPA2/WPA3":
            elems += rsn(akm=(2, 8), mfpc=True)
        else:
            elems += rsn() + wpa1()
    elif security == "WPA":
        cap |= 0x10
        elems += wpa1()
    elif security == "WEP":
        cap |= 0x10
    elems += wps_ie + extra
    hdr = (bytes([subtype << 4, 0]) + b"\x00\x00" + mac_b(da) + mac_b(bssid) + mac_b(bssid)
           + b"\x00\x00")
    return hdr + struct.pack("<QHH", 0, interval, cap) + elems


def deauth(bssid: str, client: str, reason: int = 7, subtype: int = 12) -> bytes:
    return (bytes([subtype << 4, 0]) + b"\x00\x00" + mac_b(client) + mac_b(bssid)
            + mac_b(bssid) + b"\x00\x00" + struct.pack("<H", reason))


def data_frame(bssid: str, src: str, protected: bool = True, size: int = 100) -> bytes:
    fc1 = 0x01 | (0x40 if protected else 0)
    return (bytes([0x08, fc1]) + b"\x00\x00" + mac_b(bssid) + mac_b(src)
            + mac_b("ff:ff:ff:ff:ff:ff") + b"\x00\x00" + b"\x00" * size)
