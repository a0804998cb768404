"""Properties of the Wi-Fi parsers: whatever bytes arrive, nothing escapes but a result or None."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.parsers.dot11 import (
    BeaconSeen,
    parse_elements,
    parse_mgmt,
    pmf_of,
    security_label,
)
from agent.parsers.radio import parse_ppi, parse_radiotap, split_radio
from agent.wifi import WifiSettings, WifiState
from tests import wifigen as g

SEEDS = [
    g.radiotap(g.beacon("02:00:5e:10:00:01", "Guest", security="WPA2", pmf=True,
                        wps_ie=g.wps(locked=False), tim=b"\x00\x01\x00\x00")),
    g.radiotap(g.beacon("02:00:5e:10:00:02", "Staff", security="WPA/WPA2", subtype=5),
               fcs=True),
    g.radiotap(g.deauth("02:00:5e:10:00:01", "02:00:5e:99:00:01")),
    g.radiotap(g.beacon("02:00:5e:10:00:03", b"\x00\x00", security="WPA3"), tsft=None),
]
PROPS = settings(max_examples=2500, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _feed(data: bytes) -> None:
    state = WifiState(WifiSettings(min_frames=1))
    for lt in (127, 192, 105):
        split = split_radio(lt, data)
        if split is None:
            continue
        radio, frame = split
        m = parse_mgmt(0.0, frame, radio)
        if isinstance(m, BeaconSeen):
            e = m.elements
            security_label(m.privacy, e.rsn, e.wpa)
            pmf_of(e.rsn)
            state.observe_beacon(m)
        elif m is not None:
            state.observe_deauth(m)


@PROPS
@given(st.binary(max_size=400))
def test_random_bytes(data: bytes) -> None:
    _feed(data)
    parse_elements(data)


@PROPS
@given(st.sampled_from(SEEDS), st.data())
def test_mutated_real_frames(seed: bytes, data: st.DataObject) -> None:
    buf = bytearray(seed)
    for _ in range(data.draw(st.integers(0, 8))):
        i = data.draw(st.integers(0, len(buf) - 1))
        buf[i] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(buf)))
    _feed(bytes(buf[:cut]))


@PROPS
@given(st.lists(st.tuples(st.integers(0, 255), st.binary(max_size=40)), max_size=12),
       st.integers(0, 500))
def test_element_walks(elems: list[tuple[int, bytes]], cut: int) -> None:
    body = b"".join(bytes([eid, len(v)]) + v for eid, v in elems)
    whole = parse_elements(body)
    assert not whole.malformed
    ssids = [v for eid, v in elems if eid == 0]
    assert whole.ssid == (ssids[0] if ssids else None)
    bounds = {0}
    pos = 0
    for _eid, v in elems:
        pos += 2 + len(v)
        bounds.add(pos)
    part = parse_elements(body[:cut])
    assert part.malformed == (min(cut, len(body)) not in bounds)


def test_radiotap_rejects_lies() -> None:
    assert parse_radiotap(b"") is None
    assert parse_radiotap(b"\x00\x00\xff\xff\x00\x00\x00\x00") is None  # length past the end
    assert parse_radiotap(b"\x00\x00\x08\x00\xff\xff\xff\xff") is None  # endless bitmaps
    assert parse_radiotap(b"\x00\x00\x08\x00\x21\x00\x00\x00abcd") is None  # fields missing
    assert parse_ppi(b"\x00\x00\x08\x00\x01\x00\x00\x00") is None  # not 802.11 inside
