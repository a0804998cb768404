"""3-⑤ needs a peer that is there: the pure rule that splits the candidate peers into those
with a fresh sighting and those without (agent/probe/peers.py), and the check it feeds
(agent/probe/checks.py isolation_checks), as tables."""

from __future__ import annotations

from typing import Any

import pytest

from agent.probe import checks as ck
from agent.probe import peers
from agent.probe.peers import Sighting

NOW = 1_800_000_000.0
FRESH = 900.0
PEER, GUEST, OTHER = "198.51.100.20", "198.51.100.21", "198.51.100.22"


@pytest.mark.parametrize(("age", "present"), [
    (0.0, True),
    (FRESH - 0.001, True),
    (FRESH, True),  # exactly the window old still counts
    (FRESH + 0.001, False),
    (7 * 86400.0, False),  # the week the old rule trusted
    (-5.0, True),  # a clock a little ahead is still a sighting
])
def test_freshness_boundary(age: float, present: bool) -> None:
    got = peers.split([PEER], {PEER}, {PEER: Sighting(NOW - age, "sensor")}, NOW, FRESH)
    assert [p["ip"] for p in got.present] == ([PEER] if present else [])
    assert [p["ip"] for p in got.absent] == ([] if present else [PEER])


def test_never_seen_stale_and_fresh_are_told_apart() -> None:
    seen = {GUEST: Sighting(NOW - 60, "sensor"), OTHER: Sighting(NOW - 3 * 86400, "probe")}
    got = peers.split([OTHER, PEER, GUEST, PEER], {PEER}, seen, NOW, FRESH)
    assert got.present == [{"ip": GUEST, "seen_at": NOW - 60, "source": "sensor",
                            "configured": False}]
    assert got.absent == [{"ip": PEER, "last_seen": None, "configured": True},
                          {"ip": OTHER, "last_seen": NOW - 3 * 86400, "configured": False}]


def test_no_candidates_no_peers() -> None:
    got = peers.split([], set(), {GUEST: Sighting(NOW, "sensor")}, NOW, FRESH)
    assert got.present == [] and got.absent == []


def test_latest_sighting_wins_across_sources() -> None:
    got = peers.latest(("sensor", {PEER: NOW - 10, GUEST: NOW - 5000}),
                       ("probe", {PEER: NOW - 20, GUEST: NOW - 100}))
    assert got == {PEER: Sighting(NOW - 10, "sensor"), GUEST: Sighting(NOW - 100, "probe")}


def _iso(**kw: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {"network": "198.51.100.0/24", "interface": "wlan1", "tested": 6,
                           "answered": [], "allowed": [], "expected": [], "seen": [],
                           "not_present": [], "fresh_s": FRESH, "own_peers": [PEER]}
    return {**doc, **kw}


def _check(iso: dict[str, Any]) -> tuple[dict[str, Any], ck.Outcome]:
    out = ck.Outcome()
    ck.isolation_checks(out, iso, NOW)
    return out.checks[0], out


def test_configured_peer_not_seen_is_unknown_naming_it_and_when() -> None:
    split = peers.split([PEER, GUEST], {PEER}, {GUEST: Sighting(NOW - 4000, "sensor")}, NOW,
                        FRESH)
    assert split.present == []
    c, out = _check(_iso(not_present=split.absent))
    assert c["result"] == "unknown" and c["examined"] == []
    assert "probe.isolation" not in out.covered
    ev = c["evidence"]
    assert ev["not_present"] == split.absent and ev["expected"] == []
    assert ev["reason"] == ("no peer to test: the configured isolation peers were not seen on "
                            f"the guest network in the last 900 s: {PEER} (never seen)")
    assert PEER in ev["reason_ja"] and "未確認" in ev["reason_ja"]
    # the stale guest station is listed in the evidence, not in the reason (not configured)
    assert GUEST not in ev["reason"]


def test_a_stale_configured_peer_says_when_it_was_last_seen() -> None:
    split = peers.split([PEER], {PEER}, {PEER: Sighting(NOW - 4000, "sensor")}, NOW, FRESH)
    c, _ = _check(_iso(not_present=split.absent))
    assert c["result"] == "unknown"
    assert f"{PEER} (last seen " in c["evidence"]["reason"]
    assert "最終確認" in c["evidence"]["reason_ja"]


def test_no_peer_at_all_is_unknown_with_the_reason() -> None:
    c, _ = _check(_iso(own_peers=[]))
    assert c["result"] == "unknown"
    assert c["evidence"]["reason"].startswith("no peer to test: no other guest station was seen")


def test_a_fresh_peer_that_stayed_silent_passes_with_its_sighting() -> None:
    split = peers.split([PEER], {PEER}, {PEER: Sighting(NOW - 30, "sensor")}, NOW, FRESH)
    c, out = _check(_iso(expected=[PEER], seen=split.present))
    assert c["result"] == "pass" and "probe.isolation" in out.covered
    assert c["examined"] == [f"{PEER} appliance station stayed silent"]
    assert c["evidence"]["seen"] == [{"ip": PEER, "seen_at": NOW - 30, "source": "sensor",
                                      "configured": True}]
    assert "reason" not in c["evidence"]


def test_a_peer_that_answered_fails_whether_or_not_it_was_seen() -> None:
    split = peers.split([PEER], {PEER}, {}, NOW, FRESH)  # never seen by the sensors
    c, out = _check(_iso(answered=[{"ip": PEER, "mac": "02:00:00:00:0b:00", "how": "arp"}],
                         not_present=split.absent))
    assert c["result"] == "fail" and "reason" not in c["evidence"]
    assert [d.rule for d in out.drafts] == ["probe.client_isolation"]


def test_a_missing_capability_keeps_its_own_reason() -> None:
    c, _ = _check(_iso(unavailable="needs CAP_NET_RAW", tested=0))
    assert c["result"] == "unknown" and c["evidence"]["reason"] == "needs CAP_NET_RAW"
