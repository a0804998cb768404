"""LAN rules (measure 3-⑧: visibility of what connects, protection against spoofing)."""

from __future__ import annotations

from agent import events as ev
from agent.events import LanEventSeen
from agent.rules import Rule, RuleView
from appliance.findings import FindingDraft
from appliance.i18n import N_, both

MEASURE = "3-8"


def arp_poisoning(e: LanEventSeen, view: RuleView) -> list[FindingDraft]:
    if e.kind != ev.ARP_POISONING:
        return []
    title_ja, title_en = both("ARP poisoning suspected")
    message_ja, message_en = both(
        "{ip} is claimed by more than one device ({macs}): traffic may be intercepted.",
        ip=e.ip, macs=", ".join(e.detail.get("macs", [])))
    return [FindingDraft(
        rule="lan.arp_poisoning", measure=MEASURE, severity="high", subject=e.ip,
        title_ja=title_ja, title_en=title_en, message_ja=message_ja, message_en=message_en,
        ts=e.ts, evidence={"ip": e.ip, "mac": e.mac, "old_mac": e.old_mac,
                           "gateway": e.ip in view.gateways, **e.detail},
    )]


def gateway_hijack(e: LanEventSeen, view: RuleView) -> list[FindingDraft]:
    if e.kind != ev.GATEWAY_MAC_CHANGED:
        return []
    title_ja, title_en = both("Gateway MAC address changed")
    message_ja, message_en = both(
        "Gateway {ip} changed from {old_mac} to {mac}. Unless the router was replaced, this "
        "may be a hijack.", ip=e.ip, old_mac=e.old_mac, mac=e.mac)
    return [FindingDraft(
        rule="lan.gateway_mac_changed", measure=MEASURE, severity="high", subject=e.ip,
        title_ja=title_ja, title_en=title_en, message_ja=message_ja, message_en=message_en,
        ts=e.ts, evidence={"ip": e.ip, "mac": e.mac, "old_mac": e.old_mac},
    )]


def unknown_station(e: LanEventSeen, view: RuleView) -> list[FindingDraft]:
    """A station on the business network that is not on the list of known devices.

    Randomised (locally administered) MACs are grouped into one finding per network, so phones
    that change their address do not re-alert as new devices every day.
    """
    if e.kind != ev.NEW_STATION or not view.alert_unknown_stations:
        return []
    net = view.in_business(e.ip)
    if net is None or e.mac in view.mac_allowlist:
        return []
    randomized = bool(e.detail.get("randomized"))
    subject = f"randomized@{net}" if randomized else e.mac
    strict = view.allowlist_mode
    title_ja, title_en = both(N_("Unregistered device on the business network (randomised MAC)")
                              if randomized else N_("Unregistered device on the business network"))
    message_ja, message_en = both("Unregistered device {mac} ({ip}) joined business network "
                                  "{net}.", mac=e.mac, ip=e.ip, net=net)
    return [FindingDraft(
        rule="lan.unknown_station", measure=MEASURE,
        severity="medium" if strict else "low", subject=subject,
        title_ja=title_ja, title_en=title_en, message_ja=message_ja, message_en=message_en,
        ts=e.ts, evidence={"ip": e.ip, "mac": e.mac, "network": str(net),
                           "vendor": e.detail.get("vendor"), "randomized": randomized,
                           "allowlist_mode": strict},
    )]


RULES = (
    Rule("lan.arp_poisoning", MEASURE, LanEventSeen, arp_poisoning,
         "The same IP claimed by another MAC within lan.poisoning_window_s, or a MAC asking "
         "for an address it claims."),
    Rule("lan.gateway_mac_changed", MEASURE, LanEventSeen, gateway_hijack,
         "The MAC answering for a gateway address changed."),
    Rule("lan.unknown_station", MEASURE, LanEventSeen, unknown_station,
         "A station outside lan.mac_allowlist appeared on a business network."),
)
