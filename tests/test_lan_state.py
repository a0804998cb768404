"""The LAN state machine, table-driven: a sequence of ARP packets -> the events it must emit."""

from __future__ import annotations

import ipaddress

import pytest

from agent import events as ev
from agent.lan import LanSettings, LanState
from agent.parsers.arp import ArpSeen

G, A, B, C = ("02:00:5e:00:53:01", "02:00:5e:00:53:0a", "02:00:5e:00:53:0b",
              "02:00:5e:00:53:0c")
Z = "00:00:00:00:00:00"
NET = (ipaddress.ip_network("192.0.2.0/24"),)


def reply(ts: float, mac: str, ip: str, link: str | None = None) -> ArpSeen:
    return ArpSeen(ts, 2, mac, ip, Z, "192.0.2.200", link if link is not None else mac)


def request(ts: float, mac: str, ip: str, target: str) -> ArpSeen:
    return ArpSeen(ts, 1, mac, ip, Z, target, mac)


def probe(ts: float, mac: str, target: str) -> ArpSeen:
    return ArpSeen(ts, 1, mac, "0.0.0.0", Z, target, mac)


def kinds(packets: list[ArpSeen], **settings: object) -> list[str]:
    s = LanState(LanSettings(**settings))  # type: ignore[arg-type]
    return [e.kind for p in packets for e in s.observe(p)]


CASES = {
    "first sight": ([reply(1, A, "192.0.2.10")], [ev.NEW_STATION]),
    "same pair again": ([reply(1, A, "192.0.2.10"), reply(2, A, "192.0.2.10")],
                        [ev.NEW_STATION]),
    "spoofed within window": (
        [reply(1, A, "192.0.2.10"), reply(5, B, "192.0.2.10")],
        [ev.NEW_STATION, ev.CHANGED_ETHERNET_ADDRESS, ev.ARP_POISONING]),
    "changed long after": (
        [reply(1, A, "192.0.2.10"), reply(10_000, B, "192.0.2.10")],
        [ev.NEW_STATION, ev.CHANGED_ETHERNET_ADDRESS]),
    "handover after an RFC 5227 probe": (
        [reply(1, A, "192.0.2.10"), probe(4, B, "192.0.2.10"), reply(5, B, "192.0.2.10")],
        [ev.NEW_STATION, ev.CHANGED_ETHERNET_ADDRESS]),
    "clock going backwards is not within the window": (
        [reply(10_000, A, "192.0.2.10"), reply(5, B, "192.0.2.10")],
        [ev.NEW_STATION, ev.CHANGED_ETHERNET_ADDRESS]),
    "flip flop": (
        [reply(1, A, "192.0.2.10"), reply(9000, B, "192.0.2.10"),
         reply(20_000, A, "192.0.2.10")],
        [ev.NEW_STATION, ev.CHANGED_ETHERNET_ADDRESS, ev.FLIP_FLOP]),
    "reused old address": (
        [reply(1, A, "192.0.2.10"), reply(9000, B, "192.0.2.10"),
         reply(20_000, C, "192.0.2.10"), reply(30_000, A, "192.0.2.10")],
        [ev.NEW_STATION, ev.CHANGED_ETHERNET_ADDRESS, ev.CHANGED_ETHERNET_ADDRESS,
         ev.REUSED_OLD_ETHERNET_ADDRESS]),
    "new activity after silence": (
        [reply(1, A, "192.0.2.10"), reply(1 + 8 * 86400, A, "192.0.2.10")],
        [ev.NEW_STATION, ev.NEW_ACTIVITY]),
    "ethernet mismatch reported once": (
        [reply(1, A, "192.0.2.10", link=B), reply(2, A, "192.0.2.10", link=B)],
        [ev.NEW_STATION, ev.ETHERNET_MISMATCH]),
    "mismatch ignored without link source": (
        [reply(1, A, "192.0.2.10", link="")], [ev.NEW_STATION]),
    "spoofer asks for the address it claims": (
        [reply(1, A, "192.0.2.1"), request(10, A, "192.0.2.105", "192.0.2.1")],
        [ev.NEW_STATION, ev.NEW_STATION, ev.ARP_POISONING]),
    "gratuitous ARP is not asking for one's own claim": (
        [reply(1, A, "192.0.2.10"), request(2, A, "192.0.2.10", "192.0.2.10")],
        [ev.NEW_STATION]),
    "probe alone is no station claim": ([probe(1, A, "192.0.2.10")], []),
    "broadcast sender": ([reply(1, "ff:ff:ff:ff:ff:ff", "192.0.2.10")],
                         [ev.NEW_STATION, ev.BROADCAST_ADDRESS]),
}


@pytest.mark.parametrize("name", list(CASES))
def test_event_table(name: str) -> None:
    packets, expected = CASES[name]
    assert kinds(packets) == expected


def test_bogon_only_when_networks_are_known() -> None:
    pkts = [reply(1, A, "203.0.113.5")]
    assert kinds(pkts) == [ev.NEW_STATION]
    assert kinds(pkts, networks=NET) == [ev.NEW_STATION, ev.BOGON]
    assert kinds([reply(1, A, "192.0.2.5")], networks=NET) == [ev.NEW_STATION]


def test_gateway_change() -> None:
    pkts = [reply(1, G, "192.0.2.1"), reply(3, B, "192.0.2.1")]
    got = kinds(pkts, gateways=frozenset({"192.0.2.1"}))
    assert got == [ev.NEW_STATION, ev.CHANGED_ETHERNET_ADDRESS, ev.ARP_POISONING,
                   ev.GATEWAY_MAC_CHANGED]


def test_window_is_a_setting() -> None:
    pkts = [reply(1, A, "192.0.2.10"), reply(100, B, "192.0.2.10")]
    assert ev.ARP_POISONING in kinds(pkts, poisoning_window_s=120)
    assert ev.ARP_POISONING not in kinds(pkts, poisoning_window_s=60)


def test_restore_continues_where_the_store_left_off() -> None:
    s = LanState(LanSettings())
    s.restore([{"ip": "192.0.2.10", "mac": A, "vendor": None, "randomized": 0,
                "first_seen": 1.0, "last_seen": 50.0, "frames": 3}])
    assert [e.kind for e in s.observe(reply(60, A, "192.0.2.10"))] == []
    assert ev.ARP_POISONING in [e.kind for e in s.observe(reply(70, B, "192.0.2.10"))]


def test_aggregates_and_dirty_tracking() -> None:
    s = LanState(LanSettings(), vendor_of=lambda m: "Vendor")
    for t in (5.0, 1.0, 3.0):
        s.observe(reply(t, A, "192.0.2.10"))
    [agg] = s.take_dirty()
    assert (agg.first_seen, agg.last_seen, agg.frames, agg.vendor) == (1.0, 5.0, 3, "Vendor")
    assert s.take_dirty() == []


def test_memory_is_bounded_under_a_flood() -> None:
    s = LanState(LanSettings(max_stations=1000))
    for i in range(5000):
        s.observe(reply(float(i), f"02:00:00:00:{i >> 8 & 0xff:02x}:{i & 0xff:02x}",
                        f"198.51.100.{i % 250}"))
        if i % 100 == 0:
            s.take_dirty()
    assert len(s.stations) <= 1100
