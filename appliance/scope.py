"""The probe scope's one validation: what may be listed as a target, for the config file, the
dashboard's settings page and `officeguard probe --scope` alike. Pure.

An entry is a network (CIDR or a single address) or a host name. Networks are the facility's
own: never broadcast, multicast, reserved or unspecified ranges, never wider than 65536
addresses, and public ranges only when `probe.allow_public_scope` says the facility is
authorised to probe them. Host names are resolved (and checked again) when they are probed.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable

MAX_ADDRESSES = 65536
_NAME = re.compile(r"^[a-z0-9_]([a-z0-9_-]{0,62})(\.[a-z0-9_]([a-z0-9_-]{0,62}))*\.?$")


class ScopeError(ValueError):
    """A scope entry that may never be probed, with the reason in words."""


def looks_like_address(item: str) -> bool:
    return "/" in item or item.replace(".", "").isdigit() or ":" in item


def network(item: str) -> str:
    """One network entry, normalised (host bits cleared), or ScopeError."""
    try:
        net = ipaddress.ip_network(item, strict=False)
    except ValueError as exc:
        raise ScopeError(f"not a network: {item!r}") from exc
    if net.num_addresses > MAX_ADDRESSES:
        raise ScopeError(f"{item}: wider than {MAX_ADDRESSES} addresses; list the facility's "
                         "networks one by one")
    bad = ("multicast" if net.is_multicast else "reserved or broadcast" if net.is_reserved
           else "unspecified" if net.is_unspecified else "")
    if bad:
        raise ScopeError(f"{item}: a {bad} range is never a probe target")
    return str(net)


def entry(raw: str) -> str:
    """One scope entry: a normalised network, or a lower-case host name."""
    item = raw.strip()
    if not item:
        raise ScopeError("empty scope entry")
    if looks_like_address(item):
        return network(item)
    name = item.lower()
    if len(name) > 253 or not _NAME.match(name):
        raise ScopeError(f"not a network or host name: {item!r}")
    return name


def is_public(net: str) -> bool:
    n = ipaddress.ip_network(net)
    return not (n.is_private or n.is_loopback or n.is_link_local)


def public_refusal(net: str) -> str:
    return (f"probe.scope: {net} is a public range, not the facility's own network; set "
            "probe.allow_public_scope = true only if the facility really uses public addresses "
            "and you are authorised to probe them")


def entries(items: Iterable[str]) -> list[str]:
    """Every entry checked on its own (no public-range rule): ScopeError at the first bad."""
    return [entry(i) for i in items]


def validate(items: Iterable[str], allow_public: bool) -> list[str]:
    """The whole scope, as the config and `probe --scope` accept it, or ScopeError."""
    out = entries(items)
    if not allow_public:
        public = [n for n in out if looks_like_address(n) and is_public(n)]
        if public:
            raise ScopeError(public_refusal(public[0]))
    return out
