"""Typed configuration: TOML in, validated once, unknown keys rejected with their path.

Every key here is documented in docs/configuration.md; tests/test_docs.py fails when one is not.
Secrets never live in the TOML: the MQTT password is read from `mqtt.password_file`.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

ENV_VAR = "OFFICEGUARD_CONFIG"

_MAC_RE = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")
_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


class ConfigError(Exception):
    """A configuration that cannot be used; the message names the key path."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


def _norm_mac(value: str) -> str:
    mac = value.strip().lower().replace("-", ":")
    if not _MAC_RE.match(mac):
        raise ValueError(f"not a MAC address: {value!r} (expected aa:bb:cc:dd:ee:ff)")
    return mac


def _check_cidr(value: str) -> str:
    try:
        return str(ipaddress.ip_network(value.strip(), strict=False))
    except ValueError as exc:
        raise ValueError(f"not a network in CIDR form: {value!r}") from exc


class Ssid(_Section):
    name: Annotated[str, Field(min_length=1, max_length=32)]
    bssids: list[str] = []
    role: Annotated[str, Field(pattern="^(guest|business|other)$")] = "other"

    @field_validator("bssids")
    @classmethod
    def _macs(cls, v: list[str]) -> list[str]:
        return [_norm_mac(m) for m in v]


class Facility(_Section):
    id: Annotated[str, Field(pattern=_ID_RE.pattern)] = "facility"
    name: str = ""
    ssids: list[Ssid] = []


class Networks(_Section):
    guest: list[str] = []
    business: list[str] = []
    gateways: list[str] = []

    @field_validator("guest", "business")
    @classmethod
    def _cidrs(cls, v: list[str]) -> list[str]:
        return [_check_cidr(c) for c in v]

    @field_validator("gateways")
    @classmethod
    def _ips(cls, v: list[str]) -> list[str]:
        out = []
        for ip in v:
            try:
                out.append(str(ipaddress.ip_address(ip.strip())))
            except ValueError as exc:
                raise ValueError(f"not an IP address: {ip!r}") from exc
        return out


class Interfaces(_Section):
    lan: str = ""
    monitor: str = ""


class Lan(_Section):
    poisoning_window_s: Annotated[float, Field(gt=0, le=86400)] = 3600.0
    new_activity_after_s: Annotated[float, Field(gt=0)] = 7 * 86400.0
    mac_allowlist: list[str] = []
    allowlist_mode: bool = False
    alert_unknown_stations: bool = True

    @field_validator("mac_allowlist")
    @classmethod
    def _macs(cls, v: list[str]) -> list[str]:
        return [_norm_mac(m) for m in v]


_JP_5GHZ = [36, 40, 44, 48, 52, 56, 60, 64, 100, 104, 108, 112, 116, 120, 124, 128, 132, 136, 140]


class Wifi(_Section):
    channels_24: list[Annotated[int, Field(ge=1, le=14)]] = list(range(1, 14))
    channels_5: list[Annotated[int, Field(ge=32, le=177)]] = _JP_5GHZ
    dwell_s: Annotated[float, Field(ge=0.05, le=60)] = 0.5
    fixed_channel: Annotated[int, Field(ge=0, le=177)] = 0
    min_frames: Annotated[int, Field(ge=1, le=1000)] = 3
    deauth_flood_per_s: Annotated[int, Field(ge=1)] = 10
    beacon_flood_new_bssids: Annotated[int, Field(ge=5)] = 50
    beacon_flood_window_s: Annotated[float, Field(gt=0, le=600)] = 10.0
    boundary_sensor: bool = False
    leakage_threshold_dbm: Annotated[float, Field(ge=-100, le=0)] = -75.0
    lookalike_distance: Annotated[int, Field(ge=0, le=5)] = 2


class Probe(_Section):
    scope: list[str] = []
    websites: list[str] = []
    ca_file: str = ""

    @field_validator("scope")
    @classmethod
    def _scope(cls, v: list[str]) -> list[str]:
        out = []
        for item in v:
            item = item.strip()
            if not item:
                raise ValueError("empty scope entry")
            if "/" in item or item.replace(".", "").isdigit() or ":" in item:
                out.append(_check_cidr(item))
            else:
                out.append(item.lower())
        return out

    @field_validator("websites")
    @classmethod
    def _urls(cls, v: list[str]) -> list[str]:
        for url in v:
            if not re.match(r"^https?://[^\s/]+", url):
                raise ValueError(f"not an http(s) URL: {url!r}")
        return v


class Mqtt(_Section):
    host: str = ""
    port: Annotated[int, Field(ge=1, le=65535)] = 1883
    username: str = ""
    password_file: str = ""
    ca_file: str = ""
    topic_prefix: str = ""

    @field_validator("topic_prefix")
    @classmethod
    def _prefix(cls, v: str) -> str:
        if any(c in v for c in "#+\0"):
            raise ValueError("topic_prefix must not contain '#', '+' or NUL")
        return v.strip("/")


class Storage(_Section):
    data_dir: str = "officeguard-data"
    retention_days: Annotated[int, Field(ge=1, le=3650)] = 180
    flush_interval_s: Annotated[float, Field(gt=0, le=600)] = 5.0


class Web(_Section):
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=1, le=65535)] = 8080


class Config(_Section):
    facility: Facility = Facility()
    networks: Networks = Networks()
    interfaces: Interfaces = Interfaces()
    lan: Lan = Lan()
    wifi: Wifi = Wifi()
    probe: Probe = Probe()
    mqtt: Mqtt = Mqtt()
    storage: Storage = Storage()
    web: Web = Web()

    @property
    def data_dir(self) -> Path:
        return Path(self.storage.data_dir)

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
        path = Path(self.mqtt.password_file)
        try:
            return path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"mqtt.password_file: cannot read {path}: {exc.strerror}") from exc


def _format_errors(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        path = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key (see docs/configuration.md for the keys that exist)"
        lines.append(f"{path}: {msg}")
    return "\n".join(lines)


def from_mapping(data: dict[str, Any]) -> Config:
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_errors(exc)) from None


def load(path: str | os.PathLike[str] | None = None) -> Config:
    """Load the config from PATH, else $OFFICEGUARD_CONFIG, else the embedded defaults."""
    if path is None:
        path = os.environ.get(ENV_VAR) or None
    if path is None:
        return Config()
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read config file {p}: {exc.strerror}") from exc
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{p}: not UTF-8 text (byte {exc.start})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: invalid TOML: {exc}") from exc
    try:
        return from_mapping(data)
    except ConfigError as exc:
        raise ConfigError(f"{p}:\n{exc}") from None
