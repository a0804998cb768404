"""The LAN sensor's passive OS hints (#18): decode DHCP / mDNS / LLMNR / NetBIOS packets with
`agent.parsers.dhcp`, keep the latest per (MAC, source) until the pipeline flushes, write them to
`passive_hints` with the packet fields that said what."""

from __future__ import annotations

import json
from typing import Any

from agent.parsers import dhcp as hp
from appliance.store import observations

MAX_PENDING = 4096


def observe(pending: dict[tuple[str, str], tuple[Any, ...]], ts: float, src: bytes,
            packet: bytes) -> None:
    u = hp.udp_of_ipv4(packet)
    if u is None:
        return
    mac = ":".join(f"{x:02x}" for x in src) if len(src) == 6 else ""
    h = hp.hint_from_udp(u, mac)
    if h is None or not (h.mac or mac):
        return
    key = (h.mac or mac, h.source)
    if len(pending) >= MAX_PENDING and key not in pending:
        return
    first = pending[key][7] if key in pending else ts
    pending[key] = (key[0], h.source, h.ip, h.family, h.device_class, h.hostname,
                    json.dumps(h.evidence, ensure_ascii=False), first, ts)


write = observations.write_hints  # the SQL is the store's
