"""The AP record as `officeguard ingest --json` prints it (docs/wifi-sensor.md)."""

from __future__ import annotations

from typing import Any

from agent.parsers.dot11 import AKMS, CIPHERS
from agent.wifi import ApAgg, ssid_text, wps_json


def ap_to_json(ap: ApAgg) -> dict[str, Any]:
    from appliance.timeutil import iso

    return {
        "bssid": ap.bssid,
        "ssid": ssid_text(ap.ssid),
        "ssid_hex": ap.ssid.hex(),
        "hidden": ap.hidden,
        "channel": ap.channel,
        "frequency_mhz": ap.frequency_mhz,
        "band": ap.band,
        "security": ap.security,
        "akm": list(ap.akm),
        "akm_names": [AKMS.get(a, str(a)) for a in ap.akm],
        "pairwise": list(ap.pairwise),
        "pairwise_names": [CIPHERS.get(c, str(c)) for c in ap.pairwise],
        "group_cipher": ap.group_cipher,
        "pmf": ap.pmf,
        "privacy": ap.privacy,
        "wps": wps_json(ap.wps),
        "vendor": ap.vendor,
        "randomized": ap.randomized,
        "country": ap.country,
        "tx_power_dbm": ap.tx_power_dbm,
        "phy": [p for p, on in (("ht", ap.ht), ("vht", ap.vht), ("he", ap.he)) if on],
        "rssi_dbm": None if ap.rssi_n == 0 else {
            "min": ap.rssi_min, "max": ap.rssi_max, "mean": round(ap.rssi_sum / ap.rssi_n, 1),
            "last": ap.rssi_last},
        "beacons": ap.beacons,
        "probe_responses": ap.probe_responses,
        "malformed_frames": ap.malformed,
        "security_profiles": list(ap.profiles),
        "channels_seen": list(ap.channels),
        "first_seen": iso(ap.first_seen),
        "last_seen": iso(ap.last_seen),
    }
