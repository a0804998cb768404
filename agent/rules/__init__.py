"""Rules: pure decision functions from an event and a read-only view to finding drafts.

Built-in rules register exactly the way a test or an extension would: as entries of a tuple
(`DEFAULT_RULES`) handed to `RuleSet`. Every rule names its stable id and its guideline measure.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from appliance.findings import FindingDraft


@dataclass(frozen=True, slots=True)
class FacilitySsid:
    name: str
    bssids: frozenset[str]
    role: str = "other"


@dataclass(frozen=True, slots=True)
class RuleView:
    """What a rule may know besides the event: config facts, never a database handle."""

    business: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    guest: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    gateways: frozenset[str] = frozenset()
    mac_allowlist: frozenset[str] = frozenset()
    allowlist_mode: bool = False
    alert_unknown_stations: bool = True
    ssids: tuple[FacilitySsid, ...] = ()
    boundary_sensor: bool = False
    leakage_threshold_dbm: float = -75.0
    lookalike_distance: int = 2
    min_frames: int = 3
    extra: dict[str, Any] = field(default_factory=dict)

    def in_business(self, ip: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            return None
        for n in self.business:
            if addr in n:
                return n
        return None


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    measure: str
    event_type: type
    decide: Callable[[Any, RuleView], list[FindingDraft]]
    doc_en: str = ""


class RuleSet:
    def __init__(self, rules: Iterable[Rule]) -> None:
        self.rules = tuple(rules)
        ids = [r.id for r in self.rules]
        if len(ids) != len(set(ids)):
            raise ValueError("duplicate rule ids")
        self._by_type: dict[type, list[Rule]] = {}
        for r in self.rules:
            self._by_type.setdefault(r.event_type, []).append(r)

    def evaluate(self, event: object, view: RuleView) -> list[FindingDraft]:
        drafts: list[FindingDraft] = []
        for r in self._by_type.get(type(event), ()):
            for d in r.decide(event, view):
                if d.rule != r.id or d.measure != r.measure:
                    raise ValueError(f"rule {r.id} produced a draft for {d.rule}/{d.measure}")
                drafts.append(d)
        return drafts


def default_rules() -> tuple[Rule, ...]:
    from agent.rules import lan, wifi

    return (*lan.RULES, *wifi.RULES)
