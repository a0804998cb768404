from __future__ import annotations

import ipaddress

import pytest

from agent import events as ev
from agent.events import LanEventSeen
from agent.rules import Rule, RuleSet, RuleView, default_rules
from appliance.findings import FindingDraft

BUSINESS = RuleView(business=(ipaddress.ip_network("192.0.2.0/24"),),
                    gateways=frozenset({"192.0.2.1"}))


def new(ip: str, mac: str, randomized: bool = False) -> LanEventSeen:
    return LanEventSeen(ev.NEW_STATION, 1.0, ip, mac, detail={"randomized": randomized,
                                                              "vendor": None})


def drafts(e: LanEventSeen, view: RuleView = BUSINESS) -> list[FindingDraft]:
    return RuleSet(default_rules()).evaluate(e, view)


@pytest.mark.parametrize(
    ("event", "view", "expected"),
    [
        (new("192.0.2.20", "00:11:22:33:44:55"), BUSINESS,
         [("lan.unknown_station", "low", "00:11:22:33:44:55")]),
        (new("198.51.100.20", "00:11:22:33:44:55"), BUSINESS, []),  # not business
        (new("192.0.2.20", "00:11:22:33:44:55"),
         RuleView(business=BUSINESS.business, mac_allowlist=frozenset({"00:11:22:33:44:55"})),
         []),
        (new("192.0.2.20", "00:11:22:33:44:55"),
         RuleView(business=BUSINESS.business, allowlist_mode=True),
         [("lan.unknown_station", "medium", "00:11:22:33:44:55")]),
        (new("192.0.2.21", "02:aa:bb:cc:dd:ee", randomized=True), BUSINESS,
         [("lan.unknown_station", "low", "randomized@192.0.2.0/24")]),
        (new("192.0.2.20", "00:11:22:33:44:55"),
         RuleView(business=BUSINESS.business, alert_unknown_stations=False), []),
        (LanEventSeen(ev.ARP_POISONING, 1.0, "192.0.2.1", "00:11:22:33:44:55",
                      "00:11:22:33:44:66", {"macs": ["00:11:22:33:44:55"]}), BUSINESS,
         [("lan.arp_poisoning", "high", "192.0.2.1")]),
        (LanEventSeen(ev.GATEWAY_MAC_CHANGED, 1.0, "192.0.2.1", "00:11:22:33:44:55",
                      "00:11:22:33:44:66"), BUSINESS,
         [("lan.gateway_mac_changed", "high", "192.0.2.1")]),
        (LanEventSeen(ev.FLIP_FLOP, 1.0, "192.0.2.9", "00:11:22:33:44:55"), BUSINESS, []),
    ],
)
def test_rule_table(event: LanEventSeen, view: RuleView, expected: list[tuple[str, str, str]]
                    ) -> None:
    got = [(d.rule, d.severity, d.subject) for d in drafts(event, view)]
    assert got == expected
    for d in drafts(event, view):
        assert d.measure == "3-8" and d.title_ja and d.message_ja


def test_randomized_macs_share_one_finding_subject() -> None:
    subjects = {d.subject for i in range(50)
                for d in drafts(new(f"192.0.2.{i + 2}", f"02:aa:bb:cc:dd:{i:02x}", True))}
    assert subjects == {"randomized@192.0.2.0/24"}


def test_registry_rejects_duplicates_and_foreign_drafts() -> None:
    r = default_rules()[0]
    with pytest.raises(ValueError, match="duplicate"):
        RuleSet((r, r))

    def liar(_e: object, _v: RuleView) -> list[FindingDraft]:
        return [FindingDraft("other", "3-8", "low", "s", "t", "t", 0.0)]

    rs = RuleSet((Rule("test.liar", "3-8", LanEventSeen, liar),))
    with pytest.raises(ValueError, match="produced a draft"):
        rs.evaluate(new("192.0.2.2", "00:11:22:33:44:55"), BUSINESS)


def test_a_test_rule_registers_like_a_builtin() -> None:
    def every_station(e: LanEventSeen, _v: RuleView) -> list[FindingDraft]:
        return [FindingDraft("test.every", "3-8", "info", e.mac, "t", "t", e.ts)]

    rs = RuleSet((*default_rules(), Rule("test.every", "3-8", LanEventSeen, every_station)))
    got = {d.rule for d in rs.evaluate(new("192.0.2.20", "00:11:22:33:44:55"), BUSINESS)}
    assert got == {"lan.unknown_station", "test.every"}
