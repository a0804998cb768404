"""Radio headers seen in the wild besides radiotap and PPI: Prism (DLT 119) and AVS (DLT 163),
compared with tshark on captures these tests write; and records cut short by the snap length
whose radiotap flags say "FCS at end" (there is no FCS left to strip)."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from agent.capture import CUT_SHORT, LINKTYPE_PRISM, LINKTYPE_RADIOTAP, write_pcap
from agent.parsers.radio import parse_avs, parse_prism, split_radio
from tests import wifigen as g
from tests.conftest import tshark_fields
from tests.test_ingest import ingest, tshark_senders
from tests.test_wifi_captures import assert_aps_agree_with_tshark

# (bssid, ssid, channel, security, pmf, wps)
APS = [
    ("00:11:22:33:44:01", "Prism-Open", 1, "OPEN", False),
    ("00:11:22:33:44:02", "Prism-WPA2", 6, "WPA2", True),
    ("00:11:22:33:44:03", "Prism-SAE", 11, "WPA3", True),
    ("00:11:22:33:44:04", "Prism-Legacy", 6, "WPA", False),
    ("00:11:22:33:44:05", "Prism-5G", 36, "WPA2/WPA3", True),
]


def prism(channel: int, rssi: int | None, little: bool = True, type2: bool = False,
          rate: int = 2, mactime: int = 1234) -> bytes:
    """A wlan-ng Prism II header, in either byte order and either DID numbering."""
    e = "<" if little else ">"
    code = 0x41 if type2 else 0x44
    out = struct.pack(e + "II16s", code, 144, b"wlan0")
    for i, value in enumerate((0, mactime, channel, rssi, 0, rssi, -95, rate, 0, 100), 1):
        did = (i << 12) | 0x041 if type2 else (i << 16) | 0x0044
        status = 1 if value is None else 0
        out += struct.pack(e + "IHHI", did, status, 4, (value or 0) & 0xFFFFFFFF)
    return out


def avs(channel: int, signal: int, ssi_type: int = 2, version: int = 0x80211001) -> bytes:
    phy = 8 if channel > 14 else 6
    return struct.pack(">IIQQIIIIIIiiII", version, 64, 1234, 5678, phy, channel, 10, 0, 0,
                       ssi_type, signal, -95, 0, 0)


def frames(header: object) -> list[tuple[float, bytes]]:
    out = []
    for k, (bssid, ssid, ch, sec, pmf) in enumerate(APS):
        for i in range(12):
            hdr = header(ch, -40 - k - (i % 5), i)  # type: ignore[operator]
            out.append((1000.0 + i * 0.1024 + k * 0.01,
                        hdr + g.beacon(bssid, ssid, channel=ch, security=sec, pmf=pmf)))
    # a hidden AP named by a probe response
    for i in range(6):
        out.append((1000.05 + i * 0.1024, header(1, -70, i)  # type: ignore[operator]
                    + g.beacon("00:11:22:33:44:06", b"\x00" * 7, channel=1)))
    out.append((1001.5, header(1, -70, 0)  # type: ignore[operator]
                + g.beacon("00:11:22:33:44:06", "Hidden-Net", channel=1, subtype=5)))
    return sorted(out)


VARIANTS = {
    "prism-le": (LINKTYPE_PRISM, lambda ch, s, i: prism(ch, s)),
    "prism-be": (LINKTYPE_PRISM, lambda ch, s, i: prism(ch, s, little=False)),
    "prism-type2-some-without-rssi": (
        LINKTYPE_PRISM, lambda ch, s, i: prism(ch, None if i % 3 == 0 else s, type2=True)),
    "avs": (163, lambda ch, s, i: avs(ch, s)),
    "avs-v2-some-not-dbm": (163, lambda ch, s, i: avs(ch, s, ssi_type=2 if i % 2 else 1,
                                                     version=0x80211002)),
    "avs-in-a-prism-capture": (LINKTYPE_PRISM, lambda ch, s, i: avs(ch, s)),
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_prism_and_avs_captures_agree_with_tshark(tmp_path: Path, variant: str) -> None:
    linktype, header = VARIANTS[variant]
    cap = tmp_path / f"{variant}.pcap"
    write_pcap(cap, linktype, frames(header))
    doc = ingest(tmp_path, cap)
    assert doc["files"][0]["unsupported_linktypes"] == []
    assert len(doc["access_points"]) == len(APS) + 1
    assert_aps_agree_with_tshark(cap, doc)
    rows = tshark_fields(cap, "wlan.fc.type_subtype == 8", "wlan.bssid", "wlan_radio.channel")
    channels = {b: int(c) for b, c in rows if c}
    for a in doc["access_points"]:
        assert a["channel"] == channels[a["bssid"]]
    hidden = next(a for a in doc["access_points"] if a["bssid"] == "00:11:22:33:44:06")
    assert hidden["ssid"] == "Hidden-Net" and hidden["hidden"]


def test_prism_and_avs_fields() -> None:
    info, frame = parse_prism(prism(36, -61, rate=108) + b"FRAME") or (None, b"")
    assert info is not None and frame == b"FRAME"
    assert (info.frequency_mhz, info.signal_dbm, info.rate_500kbps, info.tsft) == (
        5180, -61, 108, 1234)
    info, frame = parse_avs(avs(6, -48) + b"FRAME") or (None, b"")
    assert info is not None and frame == b"FRAME"
    assert (info.frequency_mhz, info.signal_dbm) == (2437, -48)
    # damaged headers give None, never an exception
    for bad in (b"", prism(1, -40)[:20], struct.pack("<II", 0x44, 4000) + b"\x00" * 40,
                avs(1, -40)[:63], struct.pack(">II", 0x80211001, 9999) + b"\x00" * 60):
        assert split_radio(LINKTYPE_PRISM, bad) is None
        assert split_radio(163, bad) is None or bad[:4] != b"\x80\x21\x10\x01"


def _write_cut(path: Path, records: list[tuple[float, bytes, int]]) -> None:
    """A pcap whose records may be cut short: (time, captured bytes, original length)."""
    with path.open("wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 96, LINKTYPE_RADIOTAP))
        for ts, data, orig in records:
            f.write(struct.pack("<IIII", int(ts), int((ts % 1) * 1e6), len(data), orig))
            f.write(data)


def _arp_request(sender_mac: str, sender_ip: str, target_ip: str) -> bytes:
    return (struct.pack(">HHBBH", 1, 0x0800, 6, 4, 1) + g.mac_b(sender_mac)
            + bytes(map(int, sender_ip.split("."))) + b"\x00" * 6
            + bytes(map(int, target_ip.split("."))))


def test_fcs_flag_on_a_record_cut_short_strips_nothing(tmp_path: Path) -> None:
    """A data frame carrying an ARP request, captured with radiotap "FCS at end", but the snap
    length ended the record right after the ARP: the last four bytes are ARP, not FCS."""
    sta, ap = "00:1c:bf:12:34:56", "00:11:22:33:44:02"
    body = (bytes([0x08, 0x01]) + b"\x00\x00" + g.mac_b(ap) + g.mac_b(sta)
            + g.mac_b("ff:ff:ff:ff:ff:ff") + b"\x00\x00" + b"\xaa\xaa\x03\x00\x00\x00\x08\x06"
            + _arp_request(sta, "203.0.113.20", "203.0.113.1"))
    whole = g.radiotap(body, fcs=True)  # ends with a 4-byte FCS
    cut = whole[:-4]  # the snap length took the FCS, and only the FCS
    # an open AP's beacon ends with its DS element (channel 6), heard on 2412 MHz: stripping
    # four more bytes would lose the channel element and say channel 1
    beacon = g.radiotap(g.beacon(ap, "Cut-Net", channel=6, security="OPEN"), fcs=True)
    records = [(1000.0 + i * 0.1, beacon[:-4], len(beacon)) for i in range(5)]
    records.append((1001.0, cut, len(whole)))
    records.append((1001.1, whole, len(whole)))  # the same request whole: its FCS is stripped
    cap = tmp_path / "cut.pcap"
    _write_cut(cap, records)
    doc = ingest(tmp_path, cap)
    ours = {(s["ip"], s["mac"]) for s in doc["stations"]}
    assert ours == tshark_senders(cap) == {("203.0.113.20", sta)}
    [a] = doc["access_points"]
    assert (a["ssid"], a["channel"], a["beacons"]) == ("Cut-Net", 6, 5)
    assert_aps_agree_with_tshark(cap, doc)


def test_cut_short_flag_reaches_the_parsers(tmp_path: Path) -> None:
    whole = g.radiotap(g.beacon("00:11:22:33:44:02", "X"), fcs=True)
    _info, f1 = split_radio(LINKTYPE_RADIOTAP, whole) or (None, b"")
    _info, f2 = split_radio(LINKTYPE_RADIOTAP | CUT_SHORT, whole[:-4]) or (None, b"")
    assert f1 == f2  # whole minus FCS == cut short, nothing stripped
