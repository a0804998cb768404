"""The Settings page's form: parse only what was submitted, show what is saved.

Pure functions (no I/O): the routes in web/app.py read and write the file through
appliance.config (read_settings / merge_settings / write_settings / apply_settings).
"""

from __future__ import annotations

from typing import Any

from appliance.config import Config, ConfigError, from_mapping, overlay


def parse(form: dict[str, str]) -> dict[str, Any]:
    """The settings a form submitted: a field that was not sent is not changed."""
    out: dict[str, dict[str, Any]] = {}

    def put(section: str, key: str, value: Any) -> None:
        out.setdefault(section, {})[key] = value

    def lines(key: str) -> list[str]:
        return [x.strip() for x in form.get(key, "").splitlines() if x.strip()]

    if "facility_name" in form:
        put("facility", "name", form["facility_name"].strip())
    if "ssids" in form:
        ssids = []
        for line in form["ssids"].splitlines():
            if not line.strip():
                continue
            parts = [x.strip() for x in line.split("|")]
            entry: dict[str, Any] = {"name": parts[0],
                                     "role": parts[1] if len(parts) > 1 and parts[1] else "other"}
            if len(parts) > 2 and parts[2]:
                entry["bssids"] = [b.lower() for b in parts[2].replace(",", " ").split()]
            ssids.append(entry)
        put("facility", "ssids", ssids)
    if "ssid_pick" in form:  # first-run setup: APs already seen, ticked
        picked = [x for x in form["ssid_pick"].split("\n") if x]
        have = {s["name"] for s in out.get("facility", {}).get("ssids", [])}
        extra = [{"name": n, "role": "other"} for n in picked if n not in have]
        if extra:
            put("facility", "ssids", [*out.get("facility", {}).get("ssids", []), *extra])
    for key in ("scope", "websites"):
        if key in form:
            put("probe", key, lines(key))
    for key in ("host", "username", "topic_prefix", "dashboard_url"):
        if f"mqtt_{key}" in form:
            put("mqtt", key, form[f"mqtt_{key}"].strip())
    if "mqtt_port" in form:
        port = form["mqtt_port"].strip()
        put("mqtt", "port", int(port) if port.isdigit() else port)
    if "mqtt_tls_sent" in form:  # an unticked box sends nothing: the hidden field says it was shown
        put("mqtt", "tls", form.get("mqtt_tls") == "on")
    return out


def effective(config: Config, saved: dict[str, Any]) -> Config:
    """The running configuration with the saved settings laid over it: what the form shows."""
    try:
        return from_mapping(overlay(config.model_dump(), saved))
    except ConfigError:
        return config


def pending(saved_mtime: float | None, agent: dict[str, Any] | None) -> bool:
    """Saved settings the agent has not picked up yet."""
    if saved_mtime is None or not agent or not agent.get("running", True):
        return False
    applied = agent.get("settings_mtime")
    return applied is None or float(applied) < saved_mtime
