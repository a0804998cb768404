from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.capture import read_frames
from agent.parsers.arp import parse_arp_frame
from agent.parsers.link import network_payload
from tests import arpgen
from tests.conftest import pcap

A = "02:00:5e:00:53:0a"
LINKS = (1, 105, 127, 192)


def test_ethernet_arp() -> None:
    f = arpgen.ether_arp(2, A, "192.0.2.10", "02:00:5e:00:53:0b", "192.0.2.11")
    a = parse_arp_frame(1.0, 1, f)
    assert a is not None
    assert (a.op, a.sender_mac, a.sender_ip, a.target_ip, a.link_src) == (
        2, A, "192.0.2.10", "192.0.2.11", A)


def test_vlan_tagged_and_mismatched_source() -> None:
    f = arpgen.ether_arp(1, A, "192.0.2.10", eth_src="02:00:5e:00:53:ff", vlan=20)
    a = parse_arp_frame(1.0, 1, f)
    assert a is not None and a.link_src == "02:00:5e:00:53:ff" and a.sender_mac == A


def test_arp_in_80211_radiotap_and_ppi() -> None:
    frame = arpgen.dot11_arp(1, A, "192.0.2.10", "00:00:00:00:00:00", "192.0.2.1",
                             "02:00:5e:00:53:01")
    for lt, data in ((105, frame), (127, arpgen.radiotap(frame)), (192, arpgen.ppi(frame))):
        a = parse_arp_frame(0.0, lt, data)
        assert a is not None, lt
        assert a.sender_ip == "192.0.2.10" and a.link_src == A


def test_zeek_capture_80211_arp() -> None:
    got = [parse_arp_frame(f.ts, f.linktype, f.data)
           for f in read_frames(pcap("zeek_arp-who-has-wlanmon.pcap"))]
    assert [(a.sender_ip, a.sender_mac) for a in got if a] == [
        ("10.0.0.2", "78:31:c1:c6:3f:c2"), ("10.0.0.1", "f8:ed:a5:c0:a4:f1")]


def test_protected_80211_frames_are_skipped() -> None:
    frame = bytearray(arpgen.dot11_arp(1, A, "192.0.2.10", "00:00:00:00:00:00", "192.0.2.1",
                                       "02:00:5e:00:53:01"))
    frame[1] |= 0x40
    assert parse_arp_frame(0.0, 105, bytes(frame)) is None


def test_not_arp() -> None:
    ipv4 = b"\xff" * 12 + b"\x08\x00" + b"\x45" + b"\x00" * 40
    assert parse_arp_frame(0.0, 1, ipv4) is None
    bad_hw = bytearray(arpgen.ether_arp(1, A, "192.0.2.10"))
    bad_hw[14 + 4] = 8  # hlen 8: not Ethernet/IPv4 ARP
    assert parse_arp_frame(0.0, 1, bytes(bad_hw)) is None


@settings(max_examples=3000, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(LINKS), st.binary(max_size=200))
def test_random_bytes_never_raise(linktype: int, data: bytes) -> None:
    parse_arp_frame(0.0, linktype, data)
    network_payload(linktype, data)


_VALID = [
    (1, arpgen.ether_arp(2, A, "192.0.2.10", "02:00:5e:00:53:0b", "192.0.2.11", vlan=5)),
    (127, arpgen.radiotap(arpgen.dot11_arp(1, A, "192.0.2.10", "00:00:00:00:00:00",
                                           "192.0.2.1", "02:00:5e:00:53:01"))),
    (192, arpgen.ppi(arpgen.dot11_arp(1, A, "192.0.2.10", "00:00:00:00:00:00",
                                      "192.0.2.1", "02:00:5e:00:53:01"))),
]


@settings(max_examples=3000, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(_VALID), st.data())
def test_mutated_and_truncated_frames_never_raise(base: tuple[int, bytes], data: st.DataObject
                                                  ) -> None:
    linktype, frame = base
    buf = bytearray(frame)
    for _ in range(data.draw(st.integers(0, 6))):
        i = data.draw(st.integers(0, len(buf) - 1))
        buf[i] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(buf)))
    a = parse_arp_frame(0.0, linktype, bytes(buf[:cut]))
    if a is not None:
        assert len(a.sender_mac) == 17 and a.sender_ip.count(".") == 3
