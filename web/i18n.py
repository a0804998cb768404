"""The dashboard's words: the core's gettext catalogs (appliance.i18n, one catalog for the
whole product), the language a request asks for, and local-time formatting."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from appliance.i18n import LANGUAGES, catalog, gettext, parse_po, pgettext, translator

__all__ = ["LANGUAGES", "catalog", "evidence_items", "local_time", "parse_iso", "parse_po",
           "pick", "sensor_reason", "translator"]


def pick(lang_cookie: str | None, accept: str | None, default: str) -> str:
    if lang_cookie in LANGUAGES:
        return str(lang_cookie)
    for part in (accept or "").split(","):
        tag = part.split(";")[0].strip().lower()[:2]
        if tag in LANGUAGES:
            return tag
    return default


def local_time(ts: float | None, tz: str, seconds: bool = False) -> str:
    if ts is None:
        return "—"
    try:
        zone = ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    try:
        return datetime.fromtimestamp(float(ts), zone).strftime(
            "%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")
    except (OverflowError, OSError, ValueError, TypeError):
        return "(invalid time)"  # a bad row from an older version: shown, never a 500


def parse_iso(text: str | None) -> float | None:
    """An ISO 8601 time (as the agent writes its heartbeat) as a POSIX timestamp."""
    if not text:
        return None
    try:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


# the agent's sensor reasons (English, in its log; matched by these fragments) as the dashboard
# says them in Japanese (the words are in the catalog)
_REASONS = (
    ("no monitor-mode interface", "No monitor-mode Wi-Fi adapter is configured "
     "(interfaces.monitor is empty). Wi-Fi monitoring is off."),
    ("no LAN interface", "No LAN interface was found (interfaces.lan is empty and there is no "
     "default route). LAN monitoring is off."),
    ("does not exist", "A configured interface does not exist. Check the settings."),
    ("CAP_NET_RAW", "No permission to receive packets (CAP_NET_RAW). Monitoring is off."),
    ("mqtt.host is empty", "No alert destination (MQTT broker) is set. Findings can be read "
     "on the dashboard."),
    ("probe.scope is empty", "The probe scope is empty: listening only (the default)."),
    ("injected radio source", "Receiving from the test radio input"),
    ("passive ARP on", "Monitoring by receiving ARP"),
    ("alerts to ", "Alerts to the staff are on"),
    ("hopping over", "Monitoring while hopping channels"),
    ("fixed on channel", "Monitoring on a fixed channel"),
    ("scope ", "Probing the allowed scope periodically"),
    ("joining ", "Joining the guest Wi-Fi to test client isolation"),
)


def sensor_reason(detail: str, lang: str = "ja") -> str:
    """A sensor's reason in Japanese when we know it; the original otherwise (as a detail)."""
    if lang != "ja":
        return detail
    for key, msgid in _REASONS:
        if key.lower() in (detail or "").lower():
            return gettext(msgid, "ja")
    return detail


# evidence keys and values that have words in the catalog (keys as "old macs")
EVIDENCE_KEYS = frozenset((
    "gateway", "macs", "mac", "ip", "ips", "bssid", "bssids", "ssid", "old_macs", "mac_list",
    "security", "reasons", "count", "rssi", "rssi_dbm", "signal_dbm", "channel", "channels",
    "pmf", "wps", "profiles", "facility_ssid", "vendor", "ports", "port", "service", "banner",
    "firmware", "threshold_dbm", "old_mac", "new_mac", "frames", "per_s", "advisories", "host",
    "url", "expires", "tls", "akm", "pairwise", "tx_power_dbm", "survey", "location",
    "similar_to", "distance", "first_seen", "last_seen", "disk_free_mb", "reason",
    "seconds_since_previous_claim", "window_s", "op", "previous_mac", "claimed_ip", "rule",
    "frames_seen"))
EVIDENCE_VALUES = frozenset((
    "reply", "request", "none", "capable", "required", "OPEN",
    "address claimed by another MAC within the window",
    "MAC asks for an address it claims as its own"))


def evidence_items(evidence: dict[str, object], lang: str) -> list[tuple[str, str]]:
    """A finding's evidence as labelled, readable lines (never a Python repr)."""
    yes, no = gettext("yes", lang), gettext("no", lang)

    def text(v: object) -> str:
        if isinstance(v, bool):
            return yes if v else no
        if v is None:
            return "—"
        if isinstance(v, list | tuple | set):
            return pgettext("list separator", ", ", lang).join(text(x) for x in v)
        if isinstance(v, dict):
            return "; ".join(f"{label(str(k))}: {text(x)}" for k, x in v.items())
        if lang == "ja" and isinstance(v, str) and v in EVIDENCE_VALUES:
            return gettext(v, "ja")
        if isinstance(v, float) and v.is_integer():
            return str(int(v))
        return str(v)

    def label(k: str) -> str:
        if lang != "ja":
            return k.replace("_", " ")
        return gettext(k.replace("_", " "), "ja") if k in EVIDENCE_KEYS else k

    return [(label(str(k)), text(v)) for k, v in evidence.items()]
