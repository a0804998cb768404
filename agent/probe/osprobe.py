"""Operating systems in a probe cycle: which hosts may be examined, the SMB/RDP questions that
name their OS, and the end-of-support checks (5-① for rental PCs, 3-① network equipment,
4-① everything else).

Privacy: a host on a guest network that is not a registered rental PC is a guest's own device.
It is dropped right after discovery — no port scan, no banner, no SMB question — so nothing
about it is stored, and nothing can reach an export.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from agent import osid
from agent.probe import rdp, smb
from agent.probe.checks import NETWORK_CLASSES, Outcome
from agent.probe.gate import Gate
from agent.probe.results import Discovered
from appliance import eol, kev
from appliance.i18n import N_
from appliance.store import probes


@dataclass(frozen=True)
class RentalPc:
    label: str
    mac: str = ""
    ip: str = ""
    edition: str = ""
    esu_until: str = ""
    esu_evidence: str = ""


@dataclass
class OsPlan:
    rental: list[RentalPc] = field(default_factory=list)
    guest_networks: list[str] = field(default_factory=list)
    catalog: eol.Catalog | None = None
    kev: kev.KevCatalog | None = None
    infrastructure: frozenset[str] = frozenset()  # gateways, isolation_allow: facility kit
    today: date = field(default_factory=date.today)


def plan_for(config: Any, registered: list[dict[str, Any]] | None = None,
             today: date | None = None) -> OsPlan:
    """Rental PCs from the config file and those registered on the dashboard (REGISTERED: rows
    of the rental_pcs table; a label in both: the file wins)."""
    pcs = [RentalPc(p.label, p.mac, p.ip, p.edition, p.esu_until, p.esu_evidence)
           for p in config.rental_pcs]
    labels = {p.label for p in pcs}
    pcs += [RentalPc(r["label"], r["mac"], r["ip"], r["edition"], r["esu_until"],
                     r["esu_evidence"]) for r in registered or [] if r["label"] not in labels]
    return OsPlan(pcs, list(config.networks.guest), eol.load(config.data_dir),
                  kev.load(config.data_dir),
                  frozenset([*config.networks.gateways, *config.probe.isolation_allow]),
                  today or date.today())


def registered(conn: Any) -> list[dict[str, Any]]:
    return probes.rental_pcs(conn)


def rental_for(op: OsPlan | None, ip: str, mac: str) -> RentalPc | None:
    if op is None:
        return None
    mac = mac.lower()
    for pc in op.rental:
        if (pc.mac and pc.mac == mac) or (pc.ip and pc.ip == ip):
            return pc
    return None


def guest_own(op: OsPlan | None, ip: str, mac: str) -> bool:
    """A guest's own device: on a guest network, not registered as a rental PC and not the
    facility's own equipment there (gateways, `probe.isolation_allow`)."""
    if op is None or ":" in ip or ip in op.infrastructure:
        return False
    addr = ipaddress.ip_address(ip)
    on_guest = any(addr in ipaddress.ip_network(n) for n in op.guest_networks)
    return on_guest and rental_for(op, ip, mac) is None


def drop_guests(op: OsPlan | None, up: dict[str, Discovered]) -> dict[str, Discovered]:
    return {ip: v for ip, v in up.items() if not guest_own(op, ip, v.mac)}


async def examine(ctx: Gate, op: OsPlan | None, ip: str, mac: str, host: dict[str, Any]
                  ) -> dict[str, Any]:
    """SMB2 / RDP questions for a host with 445 / 3389 open, then the OS and its verdict."""
    tcp = {p["port"] for p in host.get("ports", []) if p["proto"] == "tcp"}
    out: dict[str, Any] = {}
    if 445 in tcp:
        out["smb"] = await smb.probe(ctx, ip, 445)
    if 3389 in tcp:
        out["rdp"] = await rdp.probe(ctx, ip, 3389)
    pc = rental_for(op, ip, mac)
    ident = osid.identify({**host, **out}, client=True if pc else None)
    out["os"] = ident.as_dict() if ident else None
    if pc is not None:
        out["rental"] = {"label": pc.label, "edition": pc.edition, "esu_until": pc.esu_until,
                         "esu_evidence": pc.esu_evidence}
    if ident and op is not None and op.catalog is not None:
        sup = out["os_support"] = judge(op.catalog, ident, op.today, pc)
        if sup and sup["status"] == "past" and op.kev is not None:
            hits = kev.unfixed_after_end(op.kev, sup["product"], sup["eol"])
            if hits:
                out["kev"] = {"catalog": op.kev.version, "released": op.kev.released,
                              "after": sup["eol"], "count": len(hits),
                              "entries": [{"cve": k.cve, "name": k.name, "added": k.date_added,
                                           "ransomware": k.ransomware} for k in hits[:20]]}
    return out


def judge(cat: eol.Catalog, ident: osid.OsId, today: date, pc: RentalPc | None
          ) -> dict[str, Any] | None:
    """The catalog's verdict; several candidates (client or server build, several editions):
    the latest end date among them, and the verdict says it assumed so."""
    best: dict[str, Any] | None = None
    for product, cycle, name in ident.candidates:
        v = eol.verdict(cat, product, cycle, today, pc.edition if pc else "",
                        pc.esu_until if pc else "")
        if v is None:
            continue
        v["name"] = name
        if best is None or _end_key(v) > _end_key(best):
            best = v
    if best is not None and len(ident.candidates) > 1:
        best["candidates_assumed"] = [c[2] for c in ident.candidates]
    return best


def _end_key(v: dict[str, Any]) -> str:
    e = str(v.get("eol", ""))
    return "9999-12-31" if e == "" else ("0000-00-00" if e == "ended" else e)


def checks(out: Outcome, op: OsPlan | None, hosts: list[dict[str, Any]], ts: float) -> None:
    seen: set[str] = set()
    for h in hosts:
        ip = h["ip"]
        out.cleared += [("probe.os_eol", f"{ip} "), ("probe.os_kev", f"{ip} ")]
        if h.get("incomplete"):
            continue
        rental = h.get("rental")
        if rental:
            seen.add(rental["label"])
        kind = (h.get("device") or {}).get("class", "other")
        measure = "5-1" if rental else ("3-1" if kind in NETWORK_CLASSES else "4-1")
        os_: dict[str, Any] = h.get("os") or {}
        sup: dict[str, Any] | None = h.get("os_support")
        who = rental["label"] if rental else ip
        if not sup:
            if rental:
                out.check("rental_os", "5-1", "unknown", who,
                          {"ip": ip, "os": os_ or None,
                           "reason": "no OS identified" if not os_ else
                           "the end-of-support catalog does not know this OS"})
            continue
        out.covered.add("probe.rental_os" if rental else "probe.firmware")
        if not rental:
            out.covered.add(
                f"probe.firmware.{'network' if kind in NETWORK_CLASSES else 'device'}")
        evidence = {"os": os_, "support": sup, "rental": rental, "ip": ip}
        name, end, status = sup["name"], sup["eol"], sup["status"]
        assumed = bool(sup.get("edition_assumed") or sup.get("candidates_assumed"))
        src = f"{os_['source']}, catalog {sup['catalog_as_of']}"
        subj = f"{ip} os"
        if status == "past":
            # guideline.md 6.3: an end-of-support OS or network device is critical
            sev = "critical" if rental or measure == "3-1" else "high"
            out.find("probe.os_eol", measure, sev, subj,
                     N_("OS past end of support: {who} ({name}, support ended {end}) (edition "
                     "unknown: judged by the latest end date among editions) [{src}]")
                     if assumed else
                     N_("OS past end of support: {who} ({name}, support ended {end}) [{src}]"),
                     ts, evidence, who=who, name=name, end=end, src=src)
        elif status == "esu":
            out.find("probe.os_eol", measure, "medium", subj,
                     N_("OS past end of support, Extended Security Updates attested until "
                     "{until}: {who} ({name}) [{src}]"), ts, evidence, until=sup["esu_until"],
                     who=who, name=name, src=src)
        elif status == "soon":
            out.find("probe.os_eol", measure, "medium", subj,
                     N_("OS support ends soon: {who} ({name}, ends {end}, {days} days left) "
                     "(edition unknown: judged by the latest end date among editions) [{src}]")
                     if assumed else
                     N_("OS support ends soon: {who} ({name}, ends {end}, {days} days left) "
                     "[{src}]"), ts, evidence, who=who, name=name, end=end,
                     days=sup["days_left"], src=src)
        k = h.get("kev")
        if k:
            cves = ", ".join(e["cve"] for e in k["entries"][:5])
            out.find("probe.os_kev", measure, "critical", f"{ip} kev",
                     N_("{n} known exploited vulnerabilities (CISA KEV) added after the end of "
                     "support get no fix for {who} ({name}): {cves} [KEV {catalog} of "
                     "{released}, {src}]"), ts, {**evidence, "kev": k}, n=k["count"], who=who,
                     name=name, cves=cves, catalog=k["catalog"], released=k["released"],
                     src=src)
        result = {"past": "fail", "esu": "warn", "soon": "warn"}.get(status, "pass")
        # what was examined, under the coverage key the framework's check asks for, so a
        # pass here is a pass of something that was really looked at (compliance, #13)
        coverage = ("probe.rental_os" if rental else
                    f"probe.firmware.{'network' if kind in NETWORK_CLASSES else 'device'}")
        out.check("rental_os" if rental else "os_support", measure, result, who,
                  {"ip": ip, "os": name, "eol": end or "not announced", "status": status,
                   "catalog_as_of": sup["catalog_as_of"], "source": os_["source"]},
                  coverage, [f"{who} {name} (support until {end or 'not announced'}, "
                             f"catalog {sup['catalog_as_of']})"])
    for pc in (op.rental if op else []):
        if pc.label not in seen:
            out.check("rental_os", "5-1", "unknown", pc.label,
                      {"mac": pc.mac, "ip": pc.ip, "reason": "not seen in this probe cycle"})
