"""Typed configuration: TOML in, validated once, unknown keys rejected with their path.

Every key here is documented in docs/configuration.md; tests/test_docs.py fails when one is not.
Secrets never live in the TOML: the MQTT password is read from `mqtt.password_file`.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import math
import os
import re
import tomllib
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from appliance import scope as scope_rules
from appliance.domain import DEFAULT_PORTS

ENV_VAR = "OFFICEGUARD_CONFIG"

_MAC_RE = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")
_ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"


class ConfigError(Exception):
    """A configuration that cannot be used; the message names the key path."""


# -- a small typed loader ------------------------------------------------------------------
# Dataclasses describe the sections; `spec(...)` adds constraints. The loader checks types,
# rejects unknown keys, collects every problem with its key path, and stays light: the agent
# does not pay the ~20 MB that a validation library costs on a Pi.

def spec(default: Any = dataclasses.MISSING, *, factory: Callable[[], Any] | None = None,
         ge: float | None = None, le: float | None = None, gt: float | None = None,
         pattern: str | None = None, choices: tuple[str, ...] = (), min_len: int | None = None,
         max_len: int | None = None, check: Callable[[Any], Any] | None = None) -> Any:
    meta = {"ge": ge, "le": le, "gt": gt, "pattern": pattern, "choices": choices,
            "min_len": min_len, "max_len": max_len, "check": check}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


class _Invalid(Exception):
    pass


def _scalar(tp: Any, v: Any, meta: dict[str, Any]) -> Any:
    if tp is bool:
        if not isinstance(v, bool):
            raise _Invalid("Input should be a valid boolean (true or false)")
    elif tp is int:
        if isinstance(v, bool) or not isinstance(v, int):
            raise _Invalid("Input should be a valid integer")
    elif tp is float:
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise _Invalid("Input should be a valid number")
        try:
            v = float(v)
        except OverflowError as exc:
            raise _Invalid("Input should be a finite number") from exc
        if not math.isfinite(v):
            raise _Invalid("Input should be a finite number (not nan or inf)")
    elif tp is str:
        if not isinstance(v, str):
            raise _Invalid("Input should be a valid string")
        if meta.get("min_len") is not None and len(v) < meta["min_len"]:
            raise _Invalid(f"String should have at least {meta['min_len']} character(s)")
        if meta.get("max_len") is not None and len(v) > meta["max_len"]:
            raise _Invalid(f"String should have at most {meta['max_len']} characters")
        if meta.get("pattern") and not re.match(meta["pattern"], v):
            raise _Invalid(f"String should match pattern '{meta['pattern']}'")
        if meta.get("choices") and v not in meta["choices"]:
            raise _Invalid(f"Input should be one of {', '.join(meta['choices'])}")
    if tp in (int, float):
        if meta.get("ge") is not None and v < meta["ge"]:
            raise _Invalid(f"Input should be greater than or equal to {meta['ge']:g}")
        if meta.get("gt") is not None and v <= meta["gt"]:
            raise _Invalid(f"Input should be greater than {meta['gt']:g}")
        if meta.get("le") is not None and v > meta["le"]:
            raise _Invalid(f"Input should be less than or equal to {meta['le']:g}")
    return v


def _value(tp: Any, v: Any, meta: dict[str, Any], path: str, errors: list[str]) -> Any:
    origin = typing.get_origin(tp)
    if origin is list:
        (item,) = typing.get_args(tp)
        if not isinstance(v, list):
            errors.append(f"{path}: Input should be a valid list")
            return None
        out = []
        item_meta = {k: meta[k] for k in ("ge", "le", "gt")} if typing.get_origin(
            item) is None and item in (int, float) else {}
        for i, x in enumerate(v):
            if dataclasses.is_dataclass(item):
                out.append(_build(item, x, f"{path}.{i}", errors))
                continue
            try:
                out.append(_scalar(item, x, item_meta))
            except _Invalid as exc:
                errors.append(f"{path}.{i}: {exc}")
        return out
    if dataclasses.is_dataclass(tp):
        return _build(tp, v, path, errors)
    return _scalar(tp, v, meta)


def _build(cls: Any, data: Any, path: str, errors: list[str]) -> Any:
    if not isinstance(data, dict):
        errors.append(f"{path or '(top level)'}: Input should be a table")
        return None
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in dataclasses.fields(cls)}
    for key in data:
        if key not in known:
            errors.append(f"{path + '.' if path else ''}{key}: unknown key (see "
                          "docs/configuration.md for the keys that exist)")
    kwargs = {}
    missing = False
    n_start = len(errors)
    for name, f in known.items():
        if name not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                errors.append(f"{path + '.' if path else ''}{name}: Field required")
                missing = True
            continue
        p = f"{path}.{name}" if path else name
        n_before = len(errors)
        try:
            v = _value(hints[name], data[name], dict(f.metadata), p, errors)
            if f.metadata.get("check") and len(errors) == n_before:
                v = f.metadata["check"](v)
        except (_Invalid, ValueError) as exc:
            errors.append(f"{p}: {exc}")
            continue
        if len(errors) == n_before:
            kwargs[name] = v
    # a field that failed is absent from kwargs: build nothing rather than a half object
    return None if missing or len(errors) > n_start else cls(**kwargs)


def _norm_mac(value: str) -> str:
    mac = value.strip().lower().replace("-", ":")
    if not _MAC_RE.match(mac):
        raise ValueError(f"not a MAC address: {value!r} (expected aa:bb:cc:dd:ee:ff)")
    return mac


def _macs(v: list[str]) -> list[str]:
    return [_norm_mac(m) for m in v]


def _check_cidr(value: str) -> str:
    try:
        return str(ipaddress.ip_network(value.strip(), strict=False))
    except ValueError as exc:
        raise ValueError(f"not a network in CIDR form: {value!r}") from exc


def _cidrs(v: list[str]) -> list[str]:
    return [_check_cidr(c) for c in v]


def _ips(v: list[str]) -> list[str]:
    out = []
    for ip in v:
        try:
            out.append(str(ipaddress.ip_address(ip.strip())))
        except ValueError as exc:
            raise ValueError(f"not an IP address: {ip!r}") from exc
    return out


def _scope(v: list[str]) -> list[str]:
    """Each entry by the one scope validation (appliance/scope.py); the public-range rule needs
    the whole section and is applied by `from_mapping`."""
    try:
        return scope_rules.entries(v)
    except scope_rules.ScopeError as exc:
        raise ValueError(str(exc)) from exc


def _urls(v: list[str]) -> list[str]:
    for url in v:
        if not re.match(r"^https?://[^\s/]+", url):
            raise ValueError(f"not an http(s) URL: {url!r}")
    return v


def _prefix(v: str) -> str:
    if any(c in v for c in "#+\0"):
        raise ValueError("topic_prefix must not contain '#', '+' or NUL")
    return v.strip("/")


def _timezone(v: str) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        if not v or "\0" in v or v.startswith(("/", ".")) or ".." in v:
            raise ValueError(v)
        ZoneInfo(v)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise ValueError(f"unknown time zone {v!r} (an IANA name such as Asia/Tokyo)") from exc
    return v


_HOST_RE = re.compile(r"^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"
                      r"(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*\.?$")


def _hostnames(v: list[str]) -> list[str]:
    out = []
    for h in v:
        h = h.strip().lower()
        try:
            out.append(str(ipaddress.ip_address(h.strip("[]"))))
            continue
        except ValueError:
            pass
        if not _HOST_RE.match(h):
            raise ValueError(f"not a host name: {h!r}")
        out.append(h.rstrip("."))
    return out


def _no_controls(v: str) -> str:
    """Names shown to people: no control or bidi-override characters."""
    from appliance.display import unsafe_chars

    bad = unsafe_chars(v)
    if bad:
        raise ValueError(f"contains the invisible or control character U+{ord(bad[0]):04X}")
    return v


def _ssid_name(v: str) -> str:
    n = len(v.encode("utf-8"))
    if not 1 <= n <= 32:
        raise ValueError(f"an SSID is 1 to 32 bytes (UTF-8); {v[:40]!r} is {n}")
    return v


_JP_5GHZ = [36, 40, 44, 48, 52, 56, 60, 64, 100, 104, 108, 112, 116, 120, 124, 128, 132, 136, 140]


@dataclass(frozen=True)
class Ssid:
    name: str = spec(check=_ssid_name)
    bssids: list[str] = spec(factory=list, check=_macs)
    role: str = spec("other", choices=("guest", "business", "other"))


@dataclass(frozen=True)
class Facility:
    id: str = spec("facility", pattern=_ID_PATTERN)
    name: str = spec("", max_len=200, check=_no_controls)
    framework: str = "jta-siotp-2021"
    ssids: list[Ssid] = spec(factory=list)


@dataclass(frozen=True)
class Networks:
    guest: list[str] = spec(factory=list, check=_cidrs)
    business: list[str] = spec(factory=list, check=_cidrs)
    gateways: list[str] = spec(factory=list, check=_ips)


@dataclass(frozen=True)
class Interfaces:
    lan: str = ""
    monitor: str = ""


@dataclass(frozen=True)
class Lan:
    poisoning_window_s: float = spec(3600.0, gt=0, le=86400)
    new_activity_after_s: float = spec(7 * 86400.0, gt=0)
    mac_allowlist: list[str] = spec(factory=list, check=_macs)
    allowlist_mode: bool = False
    alert_unknown_stations: bool = True


@dataclass(frozen=True)
class Wifi:
    channels_24: list[int] = spec(factory=lambda: list(range(1, 14)), ge=1, le=14)
    channels_5: list[int] = spec(factory=lambda: list(_JP_5GHZ), ge=32, le=177)
    dwell_s: float = spec(0.5, ge=0.05, le=60)
    fixed_channel: int = spec(0, ge=0, le=177)
    min_frames: int = spec(3, ge=1, le=1000)
    deauth_flood_per_s: int = spec(10, ge=1)
    beacon_flood_new_bssids: int = spec(50, ge=5)
    beacon_flood_window_s: float = spec(10.0, gt=0, le=600)
    boundary_sensor: bool = False
    leakage_threshold_dbm: float = spec(-75.0, ge=-100, le=0)
    lookalike_distance: int = spec(2, ge=0, le=5)


_CLASSES = ("router", "ap", "printer", "camera", "nas", "pc", "other")


def _ports(v: list[int]) -> list[int]:
    bad = [p for p in v if not 1 <= p <= 65535]
    if bad:
        raise ValueError(f"not a TCP port: {bad[0]}")
    return sorted(set(v))


def _classes(v: list[str]) -> list[str]:
    for c in v:
        if c not in _CLASSES:
            raise ValueError(f"unknown device class {c!r} ({', '.join(_CLASSES)})")
    return v


def _iface_name(v: str) -> str:
    if v and not re.match(r"^[A-Za-z0-9_.:-]{1,15}$", v):
        raise ValueError(f"not a network interface name: {v!r}")
    return v


def _cidr_address(v: str) -> str:
    """An interface address with its prefix length (198.51.100.10/24)."""
    if not v:
        return v
    try:
        return str(ipaddress.ip_interface(v.strip())) if "/" in v else _bad_address(v)
    except ValueError as exc:
        raise ValueError(f"not an address with a prefix length: {v!r} "
                         "(e.g. 198.51.100.10/24)") from exc


def _bad_address(v: str) -> str:
    raise ValueError(f"give the prefix length too: {v!r} (e.g. {v}/24)")


@dataclass(frozen=True)
class GuestWifi:
    """The appliance's own station on the guest Wi-Fi, started by the agent (agent/station.py):
    the isolation job (3-⑤/3-⑥) runs from it. The passphrase lives in a file, never here."""

    interface: str = spec("", check=_iface_name)  # empty: the agent starts no station
    ssid: str = spec("", check=lambda v: _ssid_name(v) if v else v)
    key_mgmt: str = spec("WPA-PSK", choices=("WPA-PSK", "SAE", "NONE"))
    passphrase_file: str = ""
    address: str = spec("", check=_cidr_address)  # empty: wait for the OS's DHCP client
    join_timeout_s: float = spec(90.0, ge=5, le=600)


@dataclass(frozen=True)
class Probe:
    scope: list[str] = spec(factory=list, check=_scope)
    websites: list[str] = spec(factory=list, check=_urls)
    allow_public_scope: bool = False
    ca_file: str = ""
    ports: list[int] = spec(factory=lambda: list(DEFAULT_PORTS), check=_ports)
    scan_interval_s: float = spec(86400.0, ge=300)
    isolation_interval_s: float = spec(21600.0, ge=300)
    website_interval_s: float = spec(86400.0, ge=300)
    jitter_s: float = spec(600.0, ge=0, le=86400)
    rate_per_s: float = spec(200.0, gt=0, le=5000)
    host_rate_per_s: float = spec(50.0, gt=0, le=1000)
    host_concurrency: int = spec(8, ge=1, le=64)
    connect_timeout_s: float = spec(1.5, ge=0.1, le=30)
    host_budget_s: float = spec(120.0, ge=5, le=3600)
    cycle_budget_s: float = spec(1800.0, ge=30, le=86400)
    guest_interface: str = ""
    isolation_allow: list[str] = spec(factory=list, check=lambda v: _ips(v))
    # stations on the guest network that must stay unreachable: the appliance's own second
    # station (a self-test for 3-⑤) or a dedicated test device (docs/compliance.md)
    isolation_peers: list[str] = spec(factory=list, check=lambda v: _ips(v))
    # a peer counts for 3-⑤ only when the sensors (or a cycle) saw it this recently
    isolation_peer_fresh_s: float = spec(900.0, ge=60, le=7 * 86400)
    guest_wifi: GuestWifi = spec(factory=GuestWifi)
    credentials: list[str] = spec(factory=list, check=_classes)
    snmp_community: str = spec("public", min_len=1, max_len=64)
    advisories_url: str = ""


def _hhmm_range(v: str) -> str:
    if v and not re.match(r"^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d$", v):
        raise ValueError(f"not a time range HH:MM-HH:MM: {v!r}")
    return v


def _hhmm(v: str) -> str:
    if not re.match(r"^([01]\d|2[0-3]):[0-5]\d$", v):
        raise ValueError(f"not a time HH:MM: {v!r}")
    return v


@dataclass(frozen=True)
class Mqtt:
    host: str = ""
    port: int = spec(1883, ge=1, le=65535)
    username: str = ""
    password_file: str = ""
    ca_file: str = ""
    certfile: str = ""
    keyfile: str = ""
    tls: bool = False
    client_id: str = ""
    keepalive_s: int = spec(60, ge=5, le=3600)
    protocol: str = spec("3.1.1", choices=("3.1.1", "5"))
    topic_prefix: str = spec("", check=_prefix)
    dashboard_url: str = ""
    discovery: bool = False
    discovery_prefix: str = spec("homeassistant", check=_prefix)
    quiet_hours: str = spec("", check=_hhmm_range)
    digest_time: str = spec("08:00", check=_hhmm)
    rate_per_rule_per_hour: int = spec(0, ge=0)  # 0: no limit
    rate_global_per_hour: int = spec(0, ge=0)
    # an MQTT notice (topic notices/expiry) this many days before an attestation expires
    expiry_notice_days: int = spec(14, ge=1, le=120)


@dataclass(frozen=True)
class Exports:
    dir: str = ""
    keep: int = spec(24, ge=1, le=1200)
    schedule: str = spec("agent", choices=("agent", "timer", "off"))
    pseudonymise: bool = True
    languages: list[str] = spec(factory=lambda: ["ja"], check=lambda v: _langs(v))
    # attestation evidence files copied into the export (signed with it), up to this total
    evidence_max_mb: int = spec(50, ge=0, le=2048)
    email_to: list[str] = spec(factory=list)
    email_from: str = ""
    smtp_host: str = ""
    smtp_port: int = spec(587, ge=1, le=65535)
    smtp_tls: str = spec("starttls", choices=("starttls", "tls"))
    smtp_username: str = ""
    smtp_password_file: str = ""
    smtp_ca_file: str = ""


def _langs(v: list[str]) -> list[str]:
    for x in v:
        if x not in ("ja", "en"):
            raise ValueError(f"unknown language {x!r} (ja, en)")
    if not v:
        raise ValueError("at least one language")
    return v


@dataclass(frozen=True)
class Storage:
    data_dir: str = "officeguard-data"
    retention_days: int = spec(180, ge=1, le=3650)
    max_db_mb: int = spec(1024, ge=16)
    flush_interval_s: float = spec(5.0, gt=0, le=600)


@dataclass(frozen=True)
class AgentJobs:
    """How often the agent's supervisor runs each periodic job (agent/supervisor.py)."""

    heartbeat_s: float = spec(5.0, ge=1, le=300)
    health_every_s: float = spec(30.0, ge=1, le=3600)
    evidence_every_s: float = spec(600.0, ge=1, le=86400)
    export_check_s: float = spec(600.0, ge=1, le=86400)
    prune_every_s: float = spec(21600.0, ge=60, le=7 * 86400)
    settings_check_s: float = spec(2.0, ge=0.5, le=600)
    survey_check_s: float = spec(1.0, ge=0.1, le=600)
    probe_check_s: float = spec(1.0, ge=0.1, le=600)
    commands_every_s: float = spec(1.0, ge=0.1, le=600)


@dataclass(frozen=True)
class Health:
    """Self-health thresholds (agent/health.py): above or below them is a health finding."""

    disk_min_free_mb: float = spec(64.0, ge=1, le=1 << 20)
    disk_min_free_pct: float = spec(5.0, ge=0, le=90)
    memory_max_pct: float = spec(90.0, gt=10, le=100)
    temp_max_c: float = spec(80.0, ge=40, le=110)
    capture_drops_max_pct: float = spec(1.0, gt=0, le=100)


@dataclass(frozen=True)
class Web:
    host: str = "127.0.0.1"
    port: int = spec(8080, ge=1, le=65535)
    tls_cert: str = "/etc/officeguard/tls/web.crt"
    tls_key: str = "/etc/officeguard/tls/web.key"
    setup_code_file: str = "/etc/officeguard/setup-code"
    session_hours: float = spec(12.0, gt=0, le=720)
    lockout_failures: int = spec(5, ge=1, le=100)
    lockout_minutes: float = spec(15.0, gt=0, le=1440)
    language: str = spec("ja", choices=("ja", "en"))
    timezone: str = spec("Asia/Tokyo", check=lambda v: _timezone(v))
    max_body_kib: int = spec(1024, ge=16, le=65536)
    allowed_hosts: list[str] = spec(factory=list, check=lambda v: _hostnames(v))
    trusted_proxies: list[str] = spec(factory=list, check=lambda v: _ips(v))


# -- rental PCs (#18): the PCs the facility lends, examined for category 5 (5-①) -------------
_EDITIONS = ("", "home", "pro", "pro-education", "workstations", "enterprise", "education",
             "iot-enterprise", "ltsc", "iot-ltsc")


def _iso_date(v: str) -> str:
    if v:
        import datetime

        try:
            datetime.date.fromisoformat(v)
        except ValueError as exc:
            raise ValueError(f"not a date YYYY-MM-DD: {v!r}") from exc
    return v


@dataclass(frozen=True)
class RentalPc:
    label: str = spec(min_len=1, max_len=64)
    mac: str = spec("", check=lambda v: _norm_mac(v) if v else v)
    ip: str = spec("", check=lambda v: _ips([v])[0] if v else v)
    edition: str = spec("", choices=_EDITIONS)  # "" = not known: the latest end date is used
    esu_until: str = spec("", check=_iso_date)  # Windows 10 Extended Security Updates, attested
    esu_evidence: str = spec("", max_len=500)  # what proves the enrolment (licence, order no.)


def _rental_pcs(v: list[RentalPc]) -> list[RentalPc]:
    for i, pc in enumerate(v):
        if not pc.mac and not pc.ip:
            raise ValueError(f"{i} ({pc.label}): give the PC's mac or ip")
        if pc.esu_until and not pc.esu_evidence:
            raise ValueError(f"{i} ({pc.label}): esu_until needs esu_evidence (what proves the "
                             "enrolment)")
    return v


@dataclass(frozen=True)
class Config:
    facility: Facility = spec(factory=Facility)
    networks: Networks = spec(factory=Networks)
    interfaces: Interfaces = spec(factory=Interfaces)
    lan: Lan = spec(factory=Lan)
    wifi: Wifi = spec(factory=Wifi)
    probe: Probe = spec(factory=Probe)
    mqtt: Mqtt = spec(factory=Mqtt)
    storage: Storage = spec(factory=Storage)
    exports: Exports = spec(factory=Exports)
    web: Web = spec(factory=Web)
    agent: AgentJobs = spec(factory=AgentJobs)
    health: Health = spec(factory=Health)
    rental_pcs: list[RentalPc] = spec(factory=list, check=_rental_pcs)

    @classmethod
    def model_validate(cls, data: dict[str, Any]) -> Config:
        """Build from a mapping (parsed TOML); ConfigError lists every problem."""
        return from_mapping(data)

    def model_dump(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @property
    def data_dir(self) -> Path:
        return Path(self.storage.data_dir)

    @property
    def exports_dir(self) -> Path:
        return Path(self.exports.dir) if self.exports.dir else self.data_dir / "exports"

    @property
    def db_path(self) -> Path:
        return self.data_dir / "officeguard.db"

    @property
    def topic_prefix(self) -> str:
        return self.mqtt.topic_prefix or f"officeguard/{self.facility.id}"

    def mqtt_password(self) -> str | None:
        """Read the MQTT password from its secret file; None when none is configured."""
        if not self.mqtt.password_file:
            return None
        return read_secret(Path(self.mqtt.password_file), "mqtt.password_file")


def read_secret(path: Path, key: str) -> str:
    """A secret from its file; refused when anyone but its owner and group may read it, with
    the command that fixes it."""
    try:
        st = path.stat()
        if st.st_mode & 0o007:
            raise ConfigError(f"{key}: {path} is readable by every user on this machine "
                              f"(mode {st.st_mode & 0o777:o}); fix it with: chmod 640 {path}")
        return path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"{key}: cannot read {path}: {exc.strerror}") from exc


def from_mapping(data: dict[str, Any]) -> Config:
    errors: list[str] = []
    config = _build(Config, data, "", errors)
    if config is not None and not errors:
        try:
            scope_rules.validate(config.probe.scope, config.probe.allow_public_scope)
        except scope_rules.ScopeError as exc:
            errors.append(str(exc))
    if config is not None and not errors:
        errors += _guest_wifi_problems(config.probe)
        g = config.probe.guest_wifi
        if not errors and g.interface and not config.probe.guest_interface:
            # the isolation job runs from the station the agent starts
            config = dataclasses.replace(config, probe=dataclasses.replace(
                config.probe, guest_interface=g.interface))
    if errors:
        raise ConfigError("\n".join(errors))
    return typing.cast(Config, config)


def _guest_wifi_problems(p: Probe) -> list[str]:
    g = p.guest_wifi
    if not g.interface:
        return []
    out = []
    if not g.ssid:
        out.append("probe.guest_wifi.ssid: the guest SSID to join is required with "
                   "probe.guest_wifi.interface")
    if g.key_mgmt != "NONE" and not g.passphrase_file:
        out.append(f"probe.guest_wifi.passphrase_file: {g.key_mgmt} needs the file that holds "
                   "the passphrase (the passphrase itself never goes in this file)")
    if p.guest_interface and p.guest_interface != g.interface:
        out.append(f"probe.guest_interface ({p.guest_interface!r}) must be the station's "
                   f"interface probe.guest_wifi.interface ({g.interface!r}) or empty")
    return out


SETTINGS_FILE = "settings.toml"
# what the dashboard's settings page may change; everything else stays in the main file
DASHBOARD_KEYS: dict[str, tuple[str, ...]] = {
    "facility": ("name", "ssids"),
    "probe": ("scope", "websites"),
    "mqtt": ("host", "port", "username", "tls", "topic_prefix", "dashboard_url"),
}


def _read_toml(p: Path) -> dict[str, Any]:
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read config file {p}: {exc.strerror}") from exc
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{p}: larger than {MAX_CONFIG_BYTES // 1024} KiB; not a config file")
    return parse_toml(raw, str(p))


MAX_CONFIG_BYTES = 1024 * 1024


def parse_toml(raw: bytes, where: str) -> dict[str, Any]:
    """TOML bytes to a mapping, or ConfigError naming the file (never a traceback)."""
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{where}: not UTF-8 text (byte {exc.start})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{where}: invalid TOML: {exc}") from exc
    except RecursionError as exc:
        raise ConfigError(f"{where}: arrays or tables nested too deeply") from exc


def overlay(data: dict[str, Any], settings: dict[str, Any]) -> dict[str, Any]:
    """The main mapping with the dashboard's settings laid over it (allowed keys only)."""
    out = {k: dict(v) if isinstance(v, dict) else v for k, v in data.items()}
    for section, keys in DASHBOARD_KEYS.items():
        values = settings.get(section)
        if not isinstance(values, dict):
            continue
        target = out.setdefault(section, {})
        for key in keys:
            if key in values:
                target[key] = values[key]
    return out


def settings_path(data: dict[str, Any]) -> Path:
    storage = data.get("storage") if isinstance(data.get("storage"), dict) else {}
    return Path(str((storage or {}).get("data_dir", Storage.data_dir))) / SETTINGS_FILE


def load(path: str | os.PathLike[str] | None = None) -> Config:
    """Load the config from PATH, else $OFFICEGUARD_CONFIG, else the embedded defaults; then the
    settings saved from the dashboard (<data_dir>/settings.toml), which win for their keys."""
    if path is None:
        path = os.environ.get(ENV_VAR) or None
    data: dict[str, Any] = {} if path is None else _read_toml(Path(path))
    where = str(path) if path is not None else "built-in defaults"
    sp = settings_path(data)
    if sp.exists():
        data = overlay(data, _read_toml(sp))
        where += f" + {sp}"
    try:
        return from_mapping(data)
    except ConfigError as exc:
        raise ConfigError(f"{where}:\n{exc}") from None


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, str):
        # a TOML basic string: escape the quote, the backslash and every control character
        # (TOML forbids U+0000-U+001F and U+007F raw; C1 controls are escaped to stay visible)
        out = []
        for ch in v:
            o = ord(ch)
            if ch in '"\\':
                out.append("\\" + ch)
            elif o < 0x20 or 0x7F <= o <= 0x9F:
                out.append(f"\\u{o:04X}")
            else:
                out.append(ch)
        return '"' + "".join(out) + '"'
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise TypeError(f"cannot write {type(v).__name__} to TOML")


def dump_settings(settings: dict[str, Any]) -> str:
    """TOML for the dashboard's settings (the allowed keys; SSIDs as [[facility.ssids]])."""
    lines = ["# Written by the OfficeGuard dashboard (Settings). These keys win over the main",
             "# configuration file; delete this file to go back to it.", ""]
    for section, keys in DASHBOARD_KEYS.items():
        values = settings.get(section) or {}
        scalars = [k for k in keys if k in values and k != "ssids"]
        if scalars or (section == "facility" and "ssids" in values):
            lines.append(f"[{section}]")
            lines += [f"{k} = {_toml_value(values[k])}" for k in scalars]
            if section == "facility" and "ssids" in values:
                lines.append("ssids = []" if not values["ssids"] else "")
                for ssid in values["ssids"]:
                    lines.append("[[facility.ssids]]")
                    lines += [f"{k} = {_toml_value(ssid[k])}" for k in ("name", "role", "bssids")
                              if k in ssid]
            lines.append("")
    return "\n".join(lines)


def write_settings(config: Config, settings: dict[str, Any]) -> Path:
    """Write the dashboard's settings to <data_dir>/settings.toml atomically: a temporary file
    in the same folder, parsed back with the real loader (TOML and every validator) over the
    running configuration, fsynced, and only then renamed into place. A file that would not
    load is never installed (ConfigError); the old one stays."""
    import tempfile

    target = config.data_dir / SETTINGS_FILE
    target.parent.mkdir(parents=True, exist_ok=True)
    text = dump_settings(settings).encode("utf-8")
    fd, tmp = tempfile.mkstemp(prefix=".settings-", suffix=".tmp", dir=target.parent)
    try:
        os.fchmod(fd, 0o640)
        with os.fdopen(fd, "wb") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        back = parse_toml(Path(tmp).read_bytes(), str(target))
        from_mapping(overlay(config.model_dump(), back))
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


# -- the dashboard's settings: saved, merged, applied to a running process ----------------------

def read_settings(data_dir: Path) -> dict[str, Any]:
    """What the dashboard saved (<data_dir>/settings.toml), or {} when nothing was saved."""
    p = Path(data_dir) / SETTINGS_FILE
    if not p.exists():
        return {}
    return _read_toml(p)


def merge_settings(saved: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """The saved settings with only the submitted keys replaced: a save that sends the MQTT
    prefix alone keeps the facility name and SSIDs saved before."""
    out: dict[str, Any] = {}
    for section, keys in DASHBOARD_KEYS.items():
        merged = {k: v for k, v in (saved.get(section) or {}).items() if k in keys}
        merged.update({k: v for k, v in (changes.get(section) or {}).items() if k in keys})
        if merged:
            out[section] = merged
    return out


def settings_mtime(data_dir: Path) -> float | None:
    try:
        return (Path(data_dir) / SETTINGS_FILE).stat().st_mtime
    except OSError:
        return None


def apply_settings(config: Config, settings: dict[str, Any]) -> Config:
    """Lay SETTINGS over the running CONFIG in place (its facility, probe and mqtt sections) so
    every holder of the object sees them without a restart; returns the validated new config.
    Raises ConfigError (and changes nothing) when the result is not valid."""
    new = from_mapping(overlay(config.model_dump(), settings))
    for section in DASHBOARD_KEYS:
        object.__setattr__(config, section, getattr(new, section))
    return new
