"""Wi-Fi rules: 3-③ (encryption, WPS, PMF, leakage) and 3-⑧ (rogue APs, look-alikes, floods).

Configuration findings (encryption, PMF, WPS, hidden, channel, leakage) concern only the
facility's own APs: a configured SSID from an allowed BSSID (or any BSSID when the SSID has no
allow-list). Rogue findings concern anyone impersonating a network. Each rule returns a
`clear` draft when its condition no longer holds, so a fixed AP resolves its finding.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from typing import Any

from agent import wifi as w
from agent.rules import FacilitySsid, Rule, RuleView
from agent.wifi import ApSnapshot, WifiEventSeen
from appliance.findings import FindingDraft
from appliance.i18n import N_, both

M_AP = "3-3"
M_VIS = "3-8"
_WEAK = ("OPEN", "WEP")


def facility_ssid(view: RuleView, ap: ApSnapshot) -> FacilitySsid | None:
    return _facility_ssid(view, ap.bssid, ap.ssid, ap.hidden)


def _facility_ssid(view: RuleView, bssid: str, ssid: str, hidden: bool) -> FacilitySsid | None:
    for fs in view.ssids:
        if ssid == fs.name or (hidden and bssid in fs.bssids):
            return fs
    return None


def is_own(view: RuleView, ap: ApSnapshot) -> bool:
    return is_own_ap(view, ap.bssid, ap.ssid, ap.hidden)


def is_own_ap(view: RuleView, bssid: str, ssid: str, hidden: bool) -> bool:
    """An AP of the facility: a configured SSID (or, hidden, a configured BSSID), from an
    allowed BSSID when the SSID has an allow-list. SSID is the text of `ssid_text`."""
    fs = _facility_ssid(view, bssid, ssid, hidden)
    return fs is not None and (not fs.bssids or bssid in fs.bssids)


def _ap_evidence(ap: ApSnapshot) -> dict[str, Any]:
    return {"bssid": ap.bssid, "ssid": ap.ssid, "ssid_hex": ap.ssid_hex, "channel": ap.channel,
            "security": ap.security, "pmf": ap.pmf, "vendor": ap.vendor,
            "rssi_mean_dbm": None if ap.rssi_mean is None else round(ap.rssi_mean, 1)}


def _own(e: WifiEventSeen, view: RuleView) -> ApSnapshot | None:
    """The AP of an AP event when it is one of the facility's own, else None."""
    ap = e.ap
    if ap is None or e.kind not in (w.AP_CONFIRMED, w.AP_CHANGED) or not is_own(view, ap):
        return None
    return ap


def _draft(rule: str, measure: str, severity: str, ap: ApSnapshot, e: WifiEventSeen,
           title: str, message: str, clear: bool = False,
           words: Mapping[str, object] | None = None, **extra: Any) -> FindingDraft:
    """A finding about `ap`; `title` and `message` are msgids (their {fields} from `words`),
    stored in both languages from the catalog."""
    ja, en = both(title) if title else ("", "")
    msg_ja, msg_en = both(message, **(words or {})) if message else ("", "")
    return FindingDraft(rule=rule, measure=measure, severity=severity, subject=ap.bssid,
                        title_ja=ja, title_en=en, ts=e.ts, message_ja=msg_ja,
                        message_en=msg_en, clear=clear,
                        evidence={**_ap_evidence(ap), **extra})


def _name(ap: ApSnapshot) -> str:
    return ap.ssid or f"(hidden {ap.bssid})"


def rogue_reasons(view: RuleView, ap: ApSnapshot) -> list[str]:
    reasons = []
    fs = facility_ssid(view, ap)
    if fs is not None and fs.bssids and ap.bssid not in fs.bssids and ap.ssid == fs.name:
        reasons.append("unknown_bssid")
    # An allow-listed BSSID that is open is the facility's own misconfiguration
    # (wifi.weak_encryption), not a twin.
    listed = fs is not None and ap.bssid in fs.bssids
    if ap.security in _WEAK and ap.ssid_secured_elsewhere and not listed:
        reasons.append("open_twin")
    if ap.conflict:
        reasons.append("conflicting_beacons")  # same BSSID, two transmitters
    elif len(ap.profiles) > 1:
        before, now = (p.split("|")[0] for p in (ap.profiles[-2], ap.profiles[-1]))
        if w.SECURITY_RANK.get(now, 0) < w.SECURITY_RANK.get(before, 0):
            reasons.append("security_downgrade")  # Kismet's CRYPTODROP
    return reasons


def rogue_ap(e: WifiEventSeen, view: RuleView) -> list[FindingDraft]:
    ap = e.ap
    if ap is None or e.kind not in (w.AP_CONFIRMED, w.AP_CHANGED):
        return []
    reasons = rogue_reasons(view, ap)
    if not reasons:
        return []
    ours = facility_ssid(view, ap) is not None
    severity = "critical" if "open_twin" in reasons and ours else "high"
    return [_draft(
        "wifi.rogue_ap", M_VIS, severity, ap, e,
        N_("Rogue or evil-twin access point"),
        N_("A suspicious access point {bssid} broadcasts '{name}' ({reasons})."),
        words={"bssid": ap.bssid, "name": _name(ap), "reasons": ", ".join(reasons)},
        reasons=reasons, profiles=list(ap.profiles), facility_ssid=ours)]


def weak_encryption(e: WifiEventSeen, view: RuleView) -> list[FindingDraft]:
    ap = _own(e, view)
    if ap is None:
        return []
    if rogue_reasons(view, ap):
        return []
    sec, pw = ap.security, set(ap.pairwise)
    sev, why = None, ""
    if sec in _WEAK:
        sev, why = "critical", f"{sec}: traffic is readable by anyone nearby"
    elif sec in ("WPA", "WPA-Enterprise") or (pw and pw <= {2}):
        sev, why = "high", "WPA1 or TKIP only"
    elif 2 in pw:
        sev, why = "medium", "TKIP still allowed beside CCMP"
    elif sec == "OWE":
        sev, why = "low", "OWE encrypts but does not authenticate users"
    if sev is None:
        return [_draft("wifi.weak_encryption", M_AP, "info", ap, e, "", "", clear=True)]
    return [_draft(
        "wifi.weak_encryption", M_AP, sev, ap, e,
        N_("Weak Wi-Fi encryption"),
        N_("'{name}' ({bssid}) uses {security} ({why}). Use WPA2 or WPA3 with AES (CCMP)."),
        words={"name": _name(ap), "bssid": ap.bssid, "security": sec, "why": why},
        reason=why)]


def no_pmf(e: WifiEventSeen, view: RuleView) -> list[FindingDraft]:
    ap = _own(e, view)
    if ap is None:
        return []
    applies = ap.security in ("WPA2", "WPA/WPA2", "WPA2-Enterprise", "WPA/WPA2-Enterprise")
    if not applies or ap.pmf != "none":
        return [_draft("wifi.no_pmf", M_AP, "info", ap, e, "", "", clear=True)]
    return [_draft(
        "wifi.no_pmf", M_AP, "low", ap, e,
        N_("Protected Management Frames disabled"),
        N_("'{name}' ({bssid}) does not offer PMF (802.11w); enable it to resist "
        "deauthentication attacks."), words={"name": _name(ap), "bssid": ap.bssid})]


def wps_enabled(e: WifiEventSeen, view: RuleView) -> list[FindingDraft]:
    ap = _own(e, view)
    if ap is None:
        return []
    wps = ap.wps
    active = wps is not None and wps.get("state") == "configured" and not wps.get("locked")
    if not active:
        return [_draft("wifi.wps_enabled", M_AP, "info", ap, e, "", "", clear=True)]
    return [_draft(
        "wifi.wps_enabled", M_AP, "medium", ap, e,
        N_("WPS is enabled"),
        N_("WPS is enabled and unlocked on '{name}' ({bssid}); its PIN can be brute-forced. "
        "Disable WPS."), words={"name": _name(ap), "bssid": ap.bssid}, wps=wps)]


def hidden_ssid(e: WifiEventSeen, view: RuleView) -> list[FindingDraft]:
    ap = _own(e, view)
    if ap is None:
        return []
    if not ap.hidden or rogue_reasons(view, ap):
        return []
    return [_draft(
        "wifi.hidden_ssid", M_AP, "info", ap, e,
        N_("Hidden SSID (information)"),
        N_("Hiding the SSID is not a security control; this is information only."))]


def channel_changed(e: WifiEventSeen, view: RuleView) -> list[FindingDraft]:
    ap = e.ap
    if ap is None or e.kind != w.AP_CHANGED or "channel" not in e.detail.get("changes", ()):
        return []
    if not is_own(view, ap):
        return []
    return [_draft(
        "wifi.channel_changed", M_VIS, "low", ap, e,
        N_("Access point changed channel"),
        N_("'{name}' ({bssid}) was seen on channels {channels}."),
        words={"name": _name(ap), "bssid": ap.bssid, "channels": list(ap.channels)},
        channels=list(ap.channels))]


_CONFUSABLES = str.maketrans({"0": "o", "1": "l", "i": "l", "|": "l", "5": "s", "$": "s",
                              "3": "e", "4": "a", "@": "a", "7": "t", "а": "a", "е": "e",
                              "о": "o", "р": "p", "с": "c", "х": "x", "у": "y", "і": "l",
                              "ο": "o", "α": "a", "ε": "e", "ν": "v", "-": "", "_": "",
                              " ": "", ".": ""})


def skeleton(name: str) -> str:
    """A look-alike key: NFKC, case-folded, confusable characters mapped, separators dropped."""
    s = unicodedata.normalize("NFKC", name).casefold().translate(_CONFUSABLES)
    return s.replace("rn", "m").replace("vv", "w")


def edit_distance(a: str, b: str, limit: int) -> int:
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        if min(cur) > limit:
            return limit + 1
        prev = cur
    return prev[-1]


def lookalike_ssid(e: WifiEventSeen, view: RuleView) -> list[FindingDraft]:
    ap = e.ap
    if ap is None or e.kind != w.AP_CONFIRMED or not ap.ssid or facility_ssid(view, ap):
        return []
    sk = skeleton(ap.ssid)
    for fs in view.ssids:
        if len(fs.name) < 4:
            continue
        fsk = skeleton(fs.name)
        dist = edit_distance(sk, fsk, view.lookalike_distance)
        if sk == fsk or dist <= view.lookalike_distance:
            return [_draft(
                "wifi.lookalike_ssid", M_VIS, "medium", ap, e,
                N_("Look-alike of a facility SSID"),
                N_("'{ssid}' ({bssid}) looks like the facility SSID '{facility}'."),
                words={"ssid": ap.ssid, "bssid": ap.bssid, "facility": fs.name},
                resembles=fs.name, distance=dist)]
    return []


def tx_power_max(e: WifiEventSeen, view: RuleView) -> list[FindingDraft]:
    ap = e.ap
    if ap is None or e.kind != w.AP_CONFIRMED or not is_own(view, ap):
        return []
    if ap.tx_power_dbm is None or ap.country_max_dbm is None:
        return []
    if ap.tx_power_dbm < ap.country_max_dbm:
        return []
    return [_draft(
        "wifi.tx_power_max", M_AP, "low", ap, e,
        N_("Transmit power at the regulatory maximum"),
        N_("'{name}' ({bssid}) advertises {power} dBm, the regulatory maximum ({max} dBm): "
        "review the power setting to limit leakage."),
        words={"name": _name(ap), "bssid": ap.bssid, "power": ap.tx_power_dbm,
               "max": ap.country_max_dbm},
        tx_power_dbm=ap.tx_power_dbm, country_max_dbm=ap.country_max_dbm)]


def boundary_leakage(e: WifiEventSeen, view: RuleView) -> list[FindingDraft]:
    """With the appliance declared a boundary sensor, its own readings are 'outside'."""
    ap = e.ap
    if (ap is None or not view.boundary_sensor or e.kind not in (w.AP_CONFIRMED, w.AP_CHANGED)
            or not is_own(view, ap) or ap.rssi_mean is None
            or ap.rssi_samples < view.min_frames):
        return []
    if ap.rssi_mean <= view.leakage_threshold_dbm:
        return [_draft("wifi.signal_leakage", M_AP, "info", ap, e, "", "", clear=True)]
    return [leakage_draft(ap.bssid, ap.ssid, ap.rssi_mean, view.leakage_threshold_dbm,
                          "boundary sensor", e.ts, ap.bssid)]


def leakage_draft(bssid: str, ssid: str, mean: float, threshold: float, where: str, ts: float,
                  subject: str) -> FindingDraft:
    title_ja, title_en = both("Wi-Fi signal leaks outside the facility")
    message_ja, message_en = both(
        "'{ssid}' ({bssid}) reaches {where} at {mean:.0f} dBm on average "
        "(threshold {threshold:.0f} dBm).", ssid=ssid, bssid=bssid, where=where, mean=mean,
        threshold=threshold)
    return FindingDraft(
        rule="wifi.signal_leakage", measure=M_AP, severity="medium", subject=subject,
        title_ja=title_ja, title_en=title_en, message_ja=message_ja, message_en=message_en,
        ts=ts, evidence={"bssid": bssid, "ssid": ssid, "rssi_mean_dbm": round(mean, 1),
                         "threshold_dbm": threshold, "where": where})


def deauth_flood(e: WifiEventSeen, view: RuleView) -> list[FindingDraft]:
    if e.kind != w.DEAUTH_FLOOD:
        return []
    ap = e.ap
    ours = ap is not None and is_own(view, ap)
    name = ap.ssid if ap and ap.ssid else e.subject
    title_ja, title_en = both("Deauthentication flood")
    message_ja, message_en = both(
        "A flood of deauthentication frames targets '{name}' ({target}).", name=name,
        target=e.subject)
    return [FindingDraft(
        rule="wifi.deauth_flood", measure=M_VIS, severity="high" if ours or not view.ssids
        else "medium", subject=e.subject,
        title_ja=title_ja, title_en=title_en, message_ja=message_ja, message_en=message_en,
        ts=e.ts, evidence={"target": e.subject, "ssid": name, **e.detail})]


def beacon_flood(e: WifiEventSeen, view: RuleView) -> list[FindingDraft]:
    if e.kind != w.BEACON_FLOOD:
        return []
    title_ja, title_en = both("Beacon flood")
    message_ja, message_en = both("Many new access points appeared within seconds: a "
                                  "beacon-flood tool is likely.")
    return [FindingDraft(
        rule="wifi.beacon_flood", measure=M_VIS, severity="high", subject=e.subject,
        title_ja=title_ja, title_en=title_en, message_ja=message_ja, message_en=message_en,
        ts=e.ts, evidence=dict(e.detail))]


RULES = (
    Rule("wifi.rogue_ap", M_VIS, WifiEventSeen, rogue_ap,
         "A facility SSID from a BSSID not on its allow-list, an open twin of a secured SSID, "
         "or one BSSID with two security profiles (spoofed BSSID or downgrade)."),
    Rule("wifi.weak_encryption", M_AP, WifiEventSeen, weak_encryption,
         "A facility AP that is open, WEP, WPA1 or TKIP-only (or allows TKIP, or is OWE)."),
    Rule("wifi.no_pmf", M_AP, WifiEventSeen, no_pmf, "A facility WPA2 AP without PMF."),
    Rule("wifi.wps_enabled", M_AP, WifiEventSeen, wps_enabled,
         "A facility AP with WPS configured and not locked."),
    Rule("wifi.hidden_ssid", M_AP, WifiEventSeen, hidden_ssid, "A facility SSID is hidden."),
    Rule("wifi.channel_changed", M_VIS, WifiEventSeen, channel_changed,
         "A facility AP was seen on another channel."),
    Rule("wifi.lookalike_ssid", M_VIS, WifiEventSeen, lookalike_ssid,
         "An SSID within wifi.lookalike_distance of a facility SSID (homoglyphs folded)."),
    Rule("wifi.tx_power_max", M_AP, WifiEventSeen, tx_power_max,
         "A facility AP advertises the regulatory maximum transmit power."),
    Rule("wifi.signal_leakage", M_AP, WifiEventSeen, boundary_leakage,
         "A facility AP is stronger than wifi.leakage_threshold_dbm outside the facility."),
    Rule("wifi.deauth_flood", M_VIS, WifiEventSeen, deauth_flood,
         "More than wifi.deauth_flood_per_s deauthentication/disassociation frames in one "
         "second against one BSSID."),
    Rule("wifi.beacon_flood", M_VIS, WifiEventSeen, beacon_flood,
         "More than wifi.beacon_flood_new_bssids new BSSIDs within "
         "wifi.beacon_flood_window_s, at least half of them impossible (group bit) or "
         "short-lived (a few beacons each); their BSSIDs stay out of the inventory."),
)
