"""One probe cycle: scope → discovery → ports → services → device records → firmware →
credentials (opt-in) → isolation and separation from the guest side → web sites → checks.

`run_cycle` returns the CLI document (`hosts`, `checks`, `findings`, ...) and the drafts; it
writes nothing. `agent.probe.store` records a cycle in one transaction.
"""

from __future__ import annotations

import asyncio
import ipaddress
import time
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from agent.probe import checks as ck
from agent.probe import creds as cr
from agent.probe import fingerprint as fp
from agent.probe import firmware as fw
from agent.probe import osprobe, peers, segments, services, udp, website
from agent.probe.caps import Cap, MissingCapability
from agent.probe.gate import Gate, Settings
from agent.probe.results import Discovered
from agent.probe.scope import OutOfScope, Resolver, Scope, system_resolver
from appliance.domain import DEFAULT_PORTS

# the liveness pass off the appliance's own segments asks a host that ignored an ICMP echo
# on these; nmap's default discovery asks 443 and 80 (plus ICMP echo and timestamp)
LIVENESS_PORTS = [443, 80, 22, 445]
ADMIN_PORTS = [22, 23, 80, 443, 445, 3389, 8080, 8443, 631, 9100, 161]


@dataclass
class Plan:
    scope: Scope
    ports: list[int] = field(default_factory=lambda: list(DEFAULT_PORTS))
    websites: list[str] = field(default_factory=list)
    ca_file: str = ""
    settings: Settings = field(default_factory=Settings)
    guest_interface: str = ""
    isolation_allow: list[str] = field(default_factory=list)
    isolation_peers: list[str] = field(default_factory=list)  # must-stay-silent stations
    business: list[str] = field(default_factory=list)
    gateways: list[str] = field(default_factory=list)
    credential_classes: list[str] = field(default_factory=list)
    snmp_community: str = "public"
    catalog: list[fw.Entry] = field(default_factory=list)
    credentials: list[cr.Cred] = field(default_factory=list)
    advisories: list[dict[str, Any]] = field(default_factory=list)
    baseline: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    inventory: dict[str, str] = field(default_factory=dict)  # ip -> mac from the LAN sensor
    known_hosts: list[str] = field(default_factory=list)  # addresses probed in earlier cycles
    # when each address was last seen (LAN sensor, earlier cycles): a 3-⑤ peer must be fresh
    sightings: dict[str, peers.Sighting] = field(default_factory=dict)
    isolation_peer_fresh_s: float = 900.0
    oui: Any = None  # callable mac -> vendor
    host_budget_s: float = 120.0
    liveness_wait_s: float = 1.0  # how long a routed address may take to answer the liveness pass
    cycle_budget_s: float = 1800.0
    credential_pause_s: float = 1.0
    jobs: tuple[str, ...] = ("scan", "isolation", "website")
    resolver: Resolver = system_resolver
    today: date = field(default_factory=date.today)
    os: osprobe.OsPlan | None = None  # rental PCs, guest networks, end-of-support catalog


async def _discover(ctx: Gate, plan: Plan, targets: list[str]) -> dict[str, Discovered]:
    """Who is there, before anyone is asked anything: ARP on the segments the appliance is on;
    elsewhere one ICMP echo to every address at once, then (for the silent ones only) TCP
    connects to a few common ports, all hosts concurrently. An address a router reports
    unreachable is dead at once. Only the live hosts get the full port list."""
    up: dict[str, Discovered] = {}
    ifaces = segments.interfaces()
    local: dict[str, list[str]] = {}
    remote: list[str] = []
    can_arp = ctx.has(Cap.NET_RAW)  # else every address is asked by IP
    for ip in targets:
        i = segments.iface_for(ip, ifaces) if ":" not in ip and can_arp else None
        if i is not None and (not ctx.device or i.name == ctx.device):
            local.setdefault(i.name, []).append(ip)
        else:
            remote.append(ip)

    async def arp(name: str, ips: list[str]) -> list[str]:
        iface = next(i for i in ifaces if i.name == name)
        try:
            swept = await ctx.arp_sweep(iface, ips)
        except MissingCapability:  # the set said yes, a sandbox said no: ask by IP
            return list(ips)
        for ip, mac in swept.items():
            up[ip] = Discovered(mac, "arp")
        # silent to ARP but seen by the LAN sensor lately: try it by IP
        return [ip for ip in ips if ip not in up and ip in plan.inventory]

    async def routed(ips: list[str]) -> None:
        if not ips:
            return
        swept = await ctx.ping_sweep(ips, plan.liveness_wait_s)
        alive, dead = swept if swept is not None else (set(), set())
        for ip in alive:
            up.setdefault(ip, Discovered("", "icmp"))
        await asyncio.gather(*(tcp_up(ip) for ip in ips if ip not in alive and ip not in dead))

    async def tcp_up(ip: str) -> None:
        async def knock(port: int) -> tuple[int, str]:
            return port, await ctx.tcp_state(ip, port, plan.liveness_wait_s)

        tasks = [asyncio.ensure_future(knock(p)) for p in LIVENESS_PORTS]
        try:
            for fut in asyncio.as_completed(tasks):
                port, state = await fut
                if state == "unreachable":
                    return  # the network says no such host: no need to wait for the rest
                if state in ("open", "closed"):
                    up.setdefault(ip, Discovered("", f"tcp/{port}"))
                    return
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    found = await asyncio.gather(*(arp(n, ips) for n, ips in local.items()), routed(remote))
    await routed([ip for extra in found if isinstance(extra, list) for ip in extra])
    for ip in list(up):
        if not up[ip].mac:
            up[ip] = Discovered(plan.inventory.get(ip, ""), up[ip].how)
    return up


async def _host(ctx: Gate, plan: Plan, ip: str, mac: str) -> dict[str, Any]:
    states = list(await asyncio.gather(*(ctx.tcp_state(ip, p) for p in plan.ports)))
    # a live host's silent port is asked once more, with more patience (nmap retransmits too):
    # one lost SYN or a busy moment must not hide an open service
    again = [i for i, st in enumerate(states) if st == "filtered"]
    for i, st in zip(again, await asyncio.gather(*(
            ctx.tcp_state(ip, plan.ports[i], 2 * ctx.settings.connect_timeout_s)
            for i in again)), strict=True):
        states[i] = st
    open_ports = [p for p, s in zip(plan.ports, states, strict=True) if s == "open"]
    idents, snmp_i, upnp_i, mdns_i = await asyncio.gather(
        asyncio.gather(*(services.identify(ctx, ip, p) for p in open_ports)),
        udp.snmp_info(ctx, ip, plan.snmp_community), udp.upnp_info(ctx, ip), udp.mdns_info(ctx, ip))
    ports: list[dict[str, Any]] = []
    for p, info in zip(open_ports, idents, strict=True):
        ports.append({"port": p, "proto": "tcp", "state": "open", **info})
    if snmp_i:
        ports.append({"port": 161, "proto": "udp", "state": "open", "service": "snmp",
                      "product": "", "version": "", "banner": snmp_i["sysDescr"][:200]})
    if upnp_i is not None:
        ports.append({"port": 1900, "proto": "udp", "state": "open", "service": "upnp",
                      "product": upnp_i.get("modelName", ""), "version": "",
                      "banner": upnp_i.get("location", "")})
    if mdns_i is not None:
        ports.append({"port": 5353, "proto": "udp", "state": "open", "service": "mdns",
                      "product": "", "version": "", "banner": ",".join(mdns_i["services"])[:200]})
    facts = {"ports": ports, "snmp": snmp_i, "upnp": upnp_i, "mdns": mdns_i,
             "ipp": next((p["ipp"] for p in ports if p.get("ipp")), None),
             "rtsp": next((p["rtsp"] for p in ports if p.get("rtsp")), None)}
    vendor_oui = plan.oui(mac) if (plan.oui and mac) else ""
    dev = fp.build_device(facts, vendor_oui or "", gateway=ip in plan.gateways)
    hint = _vendor_hint(plan, ports, snmp_i)
    if hint and (not dev.vendor or dev.evidence.get("vendor") == "oui"):
        dev.vendor, dev.evidence["vendor"] = hint
    host: dict[str, Any] = {"ip": ip, "mac": mac, "vendor": vendor_oui or "", "ports": ports,
                            "device": dev.as_dict(), "snmp": snmp_i, "upnp": upnp_i,
                            "mdns": mdns_i}
    host["firmware"] = _firmware(plan, dev, ports)
    host.update(await osprobe.examine(ctx, plan.os, ip, mac, host))
    host["advisories"] = [
        {k: a[k] for k in ("id", "title", "url", "cvss", "severity", "published")}
        for a in fw.advisories_for(plan.advisories, dev.vendor, dev.model)][:20]
    if upnp_i and "InternetGatewayDevice" in upnp_i.get("deviceType", ""):
        host["upnp_mappings"] = await udp.igd_mappings(ctx, ip, upnp_i)
    if ip in plan.baseline:
        host["baseline"] = plan.baseline[ip]
    if dev.kind in plan.credential_classes:
        cands = cr.candidates(plan.credentials, dev.vendor, dev.model)
        if cands:
            host["credentials"] = await cr.check_device(
                ctx, ip, {p["port"]: p for p in ports if p["proto"] == "tcp"}, cands,
                plan.credential_pause_s)
    return host


def _vendor_hint(plan: Plan, ports: list[dict[str, Any]], snmp_i: dict[str, Any] | None
                 ) -> tuple[str, str] | None:
    texts = []
    for p in ports:
        h = p.get("http") or {}
        texts += [("http title", h.get("title", "")), ("http realm", h.get("realm", "")),
                  (f"{p['service']} banner", p.get("banner", ""))]
    if snmp_i:
        texts.append(("snmp sysDescr", snmp_i.get("sysDescr", "")))
    names = cr.vendors(plan.credentials) + [e.vendor for e in plan.catalog if e.kind == "device"]
    for source, text in texts:
        low = text.lower()
        for n in names:
            if n and n.lower() in low:
                return n, source
    return None


def _firmware(plan: Plan, dev: fp.Device, ports: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    entry = fw.match(plan.catalog, dev.vendor, dev.model, "device")
    if entry:
        a = fw.assess(entry, dev.firmware, plan.today)
        a.update(kind="device", component=dev.model or entry.id)
        out.append(a)
    seen = set()
    for p in ports:
        if not p.get("product") or not p.get("version"):
            continue
        e = fw.match(plan.catalog, "", p["product"], "software")
        if e and e.id not in seen:
            seen.add(e.id)
            a = fw.assess(e, p["version"].split()[0], plan.today)
            a.update(kind="software", component=p["product"], port=p["port"])
            out.append(a)
    return out


async def _isolation(plan: Plan, ctx: Gate, seen: list[str]
                     ) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """From the guest interface: who else answers (3-⑤), what of the business side (3-⑥)."""
    iface = next((i for i in segments.interfaces() if i.name == plan.guest_interface), None)
    if iface is None:
        return None, None
    gctx = ctx.on_device(iface.name)  # one scope, one global rate for the whole cycle
    guests = [ip for ip in plan.scope.hosts()
              if ipaddress.ip_address(ip) in iface.network and ip != iface.ip]
    allowed = set(plan.gateways) | set(plan.isolation_allow)
    iso: dict[str, Any] = {"interface": iface.name, "network": str(iface.network),
                           "tested": len(guests), "allowed": sorted(allowed)}
    try:
        arp = await gctx.arp_sweep(iface, guests)
    except MissingCapability as exc:
        # nothing examined is never a pass: the check reports unknown with the reason
        arp = {}
        iso.update(unavailable=exc.reason, tested=0)
    icmp_limit: list[str] = []

    async def ping(ip: str) -> bool:
        try:
            return await gctx.ping(ip)
        except MissingCapability as exc:
            if not icmp_limit:
                icmp_limit.append(exc.reason)
            return False

    async def reach(ip: str, ports: list[int]) -> str:
        """The first way IP answers from the guest side: ICMP echo or an open admin port, all
        asked at once (a firewalled target costs one timeout, not one per port)."""
        async def icmp() -> str:
            # a gateway's other leg answering ping is the gateway itself; its admin ports count
            return "icmp" if ip not in plan.gateways and await ping(ip) else ""

        async def tcp(p: int) -> str:
            return f"tcp/{p}" if await gctx.tcp_state(ip, p) == "open" else ""

        tasks = [asyncio.ensure_future(icmp()), *(asyncio.ensure_future(tcp(p)) for p in ports)]
        try:
            for fut in asyncio.as_completed(tasks):
                if how := await fut:
                    return how
            return ""
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    # an ARP answer is already layer-2 reachability between guests
    others = [ip for ip in sorted(arp, key=lambda a: ipaddress.ip_address(a)) if ip not in allowed]
    pinged = await asyncio.gather(*(ping(ip) for ip in others))
    answered = [{"ip": ip, "mac": arp[ip], "how": "arp" + ("+icmp" if ok else "")}
                for ip, ok in zip(others, pinged, strict=True)]
    # the peers the test could have failed against: guest stations seen by the sensors
    # (ARP, DHCP) or earlier cycles, and the configured ones (the appliance's own second
    # station, a test device) — each only while there is current evidence it is on the network
    split = peers.split([ip for ip in [*plan.inventory, *plan.known_hosts, *plan.isolation_peers]
                         if ip in guests and ip not in allowed],
                        set(plan.isolation_peers), plan.sightings, time.time(),
                        plan.isolation_peer_fresh_s)
    ran = "unavailable" not in iso
    iso.update(answered=answered, expected=[p["ip"] for p in split.present] if ran else [],
               seen=split.present[:50] if ran else [], not_present=split.absent[:50],
               fresh_s=plan.isolation_peer_fresh_s,
               own_peers=[ip for ip in plan.isolation_peers if ip in guests])
    sep = None
    nets = [ipaddress.ip_network(n) for n in plan.business]
    if nets:
        # the business hosts known to exist: this cycle's, earlier cycles', the gateways
        known = dict.fromkeys([*seen, *plan.known_hosts, *plan.gateways])
        targets = [ip for ip in known if plan.scope.allows(ip)
                   and any(ipaddress.ip_address(ip) in n for n in nets)]
        try:
            results = await asyncio.gather(*(reach(ip, ADMIN_PORTS[:-1]) for ip in targets))
        except MissingCapability as exc:  # could not even connect from the guest side
            return iso, {"networks": [str(n) for n in nets], "targets": [], "reached": [],
                         "reached_hosts": [], "allowed": sorted(allowed),
                         "unavailable": exc.reason}
        reached = [{"ip": ip, "how": how} for ip, how in zip(targets, results, strict=True) if how]
        sep = {"networks": [str(n) for n in nets], "targets": targets, "reached": reached,
               "reached_hosts": reached, "allowed": sorted(allowed)}
        if icmp_limit:  # asked by TCP only: said beside the result
            sep["icmp_unavailable"] = icmp_limit[0]
    return iso, sep


async def run_cycle(plan: Plan) -> dict[str, Any]:
    started = time.time()
    ctx = Gate(plan.scope, plan.settings)
    doc: dict[str, Any] = {"started_at": started, "scope": [str(n) for n in plan.scope.networks],
                           "hosts": [], "checks": [], "findings": [], "refused": ctx.refused,
                           "jobs": list(plan.jobs), "errors": []}
    out = ck.Outcome()
    targets: list[str] = []
    if "scan" in plan.jobs:
        targets = list(plan.scope.hosts())
        for name in plan.scope.names:
            try:
                targets += [a for a in ctx.resolve(name, plan.resolver) if a not in targets]
            except OutOfScope as exc:
                ctx.refused.append(str(exc))
        targets += [ip for ip in plan.inventory if plan.scope.allows(ip) and ip not in targets]
        own = {i.ip for i in segments.interfaces()}  # the appliance does not probe itself
        targets = [ip for ip in targets if ip not in own]

    async def body() -> None:
        if targets:
            found = await _discover(ctx, plan, targets)
            up = osprobe.drop_guests(plan.os, found)
            # guests' own devices are answered for (discovery) but never examined; only how
            # many, never which, is kept (nothing of a guest's device is stored or exported)
            doc["guests_not_examined"] = len(found) - len(up)

            async def one(ip: str) -> dict[str, Any]:
                try:
                    return await asyncio.wait_for(_host(ctx, plan, ip, up[ip].mac),
                                                  plan.host_budget_s)
                except TimeoutError:
                    doc["errors"].append(f"{ip}: host budget of {plan.host_budget_s:g} s spent")
                    return {"ip": ip, "mac": up[ip].mac, "vendor": "", "ports": [],
                            "device": fp.Device().as_dict(), "incomplete": True}

            hosts = await asyncio.gather(*(one(ip) for ip in sorted(
                up, key=lambda a: ipaddress.ip_address(a))))
            for h, ip in zip(hosts, sorted(up, key=lambda a: ipaddress.ip_address(a)),
                             strict=True):
                h["discovered_by"] = up[ip].how
            doc["hosts"] = list(hosts)
        if "isolation" in plan.jobs and plan.guest_interface:
            doc["isolation"], doc["separation"] = await _isolation(
                plan, ctx, [h["ip"] for h in doc["hosts"]])
        if "website" in plan.jobs and plan.websites:
            doc["websites"] = await website.check_all(ctx, plan.websites, plan.ca_file,
                                                      plan.resolver)

    try:
        await asyncio.wait_for(body(), plan.cycle_budget_s)
    except TimeoutError:
        doc["errors"].append(f"cycle budget of {plan.cycle_budget_s:g} s spent")
    ts = time.time()
    for h in doc["hosts"]:
        if not h.get("incomplete"):
            ck.host_checks(out, h, ts, bool(plan.credential_classes))
    osprobe.checks(out, plan.os, doc["hosts"], ts)
    if doc.get("isolation"):
        ck.isolation_checks(out, doc["isolation"], ts)
    if doc.get("separation"):
        ck.separation_checks(out, doc["separation"], ts)
    mappings = [m for h in doc["hosts"] for m in h.get("upnp_mappings", [])]
    if "scan" in plan.jobs:
        ck.printer_checks(out, doc["hosts"], doc.get("separation"), mappings, ts)
    ck.website_checks(out, doc.get("websites", []), ts)
    doc["checks"] = out.checks
    doc["findings"] = [{"rule": d.rule, "measure": d.measure, "severity": d.severity,
                        "subject": d.subject, "title_ja": d.title_ja, "title_en": d.title_en}
                       for d in out.drafts]
    doc["finished_at"] = time.time()
    doc["duration_s"] = round(doc["finished_at"] - started, 3)
    doc["packets"] = ctx.limiter.sent
    doc["_outcome"] = out
    return doc
