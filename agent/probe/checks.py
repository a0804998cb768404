"""A probe cycle's observations → check results and finding drafts. Pure.

Each check names its guideline measure; a check that ran and found nothing clears the findings
it raised before (the engine resolves them), and a check that could not run says `unknown`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from agent.probe.results import CheckResult
from appliance.findings import FindingDraft
from appliance.i18n import N_, both, gettext

NETWORK_CLASSES = ("router", "ap")


@dataclass
class Outcome:
    results: list[CheckResult] = field(default_factory=list)
    drafts: list[FindingDraft] = field(default_factory=list)
    covered: set[str] = field(default_factory=set)  # coverage keys measured this cycle
    cleared: list[tuple[str, str]] = field(default_factory=list)  # (rule, subject prefix)

    def check(self, check: str, measure: str, result: str, subject: str,
              evidence: dict[str, Any], coverage: str = "",
              examined: list[str] | None = None) -> None:
        """`coverage` names what the check is about (a key the framework's checks ask for) and
        `examined` the things it actually looked at; a check that examined nothing passes
        nothing in the compliance evaluation."""
        self.results.append(CheckResult(check, measure, result, subject, evidence, coverage,
                                        tuple(examined or ())[:100]))

    @property
    def checks(self) -> list[dict[str, Any]]:
        """The results as the cycle document stores and prints them."""
        return [r.as_dict() for r in self.results]

    def find(self, rule: str, measure: str, severity: str, subject: str, title: str,
             ts: float, evidence: dict[str, Any], **words: object) -> None:
        """`title` is a msgid with {fields} from `words`; both languages are stored."""
        ja, en = both(title, **words)
        self.drafts.append(FindingDraft(rule, measure, severity, subject, ja, en, ts, evidence))


def _m(kind: str, net: str, dev: str) -> str:
    return net if kind in NETWORK_CLASSES else dev


def _cls(kind: str) -> str:
    """Coverage is kept per device class: routers/APs (3-x) apart from other devices (4-x)."""
    return "network" if kind in NETWORK_CLASSES else "device"


def host_checks(out: Outcome, h: dict[str, Any], ts: float, creds_enabled: bool) -> None:
    ip = h["ip"]
    dev = h.get("device") or {}
    kind = dev.get("class", "other")
    label = " ".join(x for x in (dev.get("vendor", ""), dev.get("model", "")) if x) or ip
    out.cleared += [(r, f"{ip} ") for r in (
        "probe.firmware_outdated", "probe.firmware_eol", "probe.firmware_advisory",
        "probe.default_credentials")]
    out.cleared += [(r, f"{ip}:") for r in (
        "probe.insecure_admin", "probe.exposed_service", "probe.unauthenticated_stream",
        "probe.unapproved_service")]
    # firmware currency and end of support (3-①, 4-①)
    fw_measure = _m(kind, "3-1", "4-1")
    assessed = h.get("firmware", [])
    bad = False
    for a in assessed:
        comp = a.get("component", "firmware")
        subj = f"{ip} {comp}"
        if a.get("eol"):
            bad = True
            out.find("probe.firmware_eol", fw_measure, "high", subj,
                     N_("Past end of support: {label} ({comp})"), ts, a, label=label, comp=comp)
        if a["status"] == "unsafe":
            bad = True
            out.find("probe.firmware_outdated", fw_measure, "high", subj,
                     N_("Vulnerable old version: {comp} {installed} (update to {min_safe} or "
                     "later)"), ts, a, comp=comp, installed=a["installed"],
                     min_safe=a["min_safe"])
        elif a["status"] == "outdated" and a.get("kind") == "device":
            bad = True
            out.find("probe.firmware_outdated", fw_measure, "medium", subj,
                     N_("Firmware not current: {label} {installed} (latest {latest})"), ts, a,
                     label=label, installed=a["installed"], latest=a["latest"])
    for adv in h.get("advisories", []):
        if (adv.get("cvss") or 0) >= 7.0 and not any(a["status"] == "current" and
                                                     a.get("kind") == "device" for a in assessed):
            bad = True
            out.find("probe.firmware_advisory", fw_measure, "medium", f"{ip} {adv['id']}",
                     N_("A JVN advisory may apply: {label} — {advisory}"), ts, adv, label=label,
                     advisory=adv["id"])
    if assessed or h.get("advisories"):
        out.covered.add("probe.firmware")
        out.covered.add(f"probe.firmware.{_cls(kind)}")
    out.check("firmware", fw_measure, "fail" if bad else ("pass" if assessed else "unknown"),
              ip, {"assessed": assessed, "advisories": [a["id"] for a in h.get("advisories", [])]},
              f"probe.firmware.{_cls(kind)}",
              [f"{ip} {kind} {label} {a.get('component', 'firmware')} "
               f"{a.get('installed', '')}".strip() for a in assessed])
    # default credentials (3-②, 4-②)
    cr = h.get("credentials")
    cred_measure = _m(kind, "3-2", "4-2")
    if cr is not None:
        for s in cr["success"]:
            out.find("probe.default_credentials", cred_measure, "critical",
                     f"{ip} {s['protocol']}",
                     N_("Factory-default login works: {label} ({protocol}, user {user})"), ts,
                     {k: v for k, v in s.items()}, label=label, protocol=s["protocol"],
                     user=s["username"] or "-")
        out.covered.add("probe.credentials")
        out.covered.add(f"probe.credentials.{_cls(kind)}")
        tried = sorted({a.get("protocol", "") for a in cr["attempts"] if isinstance(a, dict)})
        out.check("default_credentials", cred_measure,
                  "fail" if cr["success"] else ("warn" if cr["lockout"] else "pass"), ip,
                  {"attempts": len(cr["attempts"]), "lockout": cr["lockout"]},
                  f"probe.credentials.{_cls(kind)}",
                  [f"{ip} {kind} {label} ({', '.join(tried) or 'login'}: "
                   f"{len(cr['attempts'])} attempts)"] if cr["attempts"] else [])
    elif creds_enabled:
        out.check("default_credentials", cred_measure, "unknown", ip,
                  {"reason": "no factory default known for this vendor/model"})
    # exposed services (4-③) and plain-HTTP admin pages (3-②)
    exposed = False
    ports = [p for p in h.get("ports", []) if p["state"] == "open"]
    for p in ports:
        port, svc = p["port"], p.get("service", "")
        subj = f"{ip}:{port}/{p['proto']} {svc}"
        why = ""
        sev = "medium"
        if svc == "telnet":
            why, sev = N_("Telnet (clear-text remote login) is open: {label}"), "high"
        elif svc == "ftp" and (p.get("ftp") or {}).get("anonymous"):
            why, sev = N_("FTP accepts anonymous login: {label}"), "high"
        elif svc == "ftp":
            why = N_("FTP (clear-text file transfer) is open: {label}")
        elif svc == "snmp":
            why = N_("SNMP v1/v2c answers the default community 'public': {label}")
        elif svc == "upnp" and p["proto"] == "udp":
            why, sev = N_("UPnP (SSDP) answers: {label}"), "low"
        if why:
            exposed = True
            out.find("probe.exposed_service", "4-3", sev, subj, why, ts,
                     {"port": port, "proto": p["proto"], "service": svc,
                      "banner": p.get("banner", "")}, label=label)
        http = p.get("http") or {}
        if svc == "http" and http.get("admin"):
            exposed = True
            out.find("probe.insecure_admin" if kind in NETWORK_CLASSES else
                     "probe.exposed_service", _m(kind, "3-2", "4-3"), "medium",
                     f"{ip}:{port}/tcp http-admin",
                     N_("Admin page served over plain HTTP: {label}"), ts,
                     {"port": port, "title": http.get("title", ""), "realm": http.get("realm", "")},
                     label=label)
        rtsp = p.get("rtsp") or {}
        if rtsp.get("unauthenticated"):
            exposed = True
            # a stream served without credentials is critical, as a factory password is (4-2b)
            out.find("probe.unauthenticated_stream", "4-2", "critical", f"{ip}:{port}/tcp rtsp",
                     N_("Video stream answers without credentials (RTSP): {label}"), ts,
                     {"port": port, "describe_status": rtsp.get("describe_status"),
                      "sdp": rtsp.get("sdp", True)}, label=label)
    baseline = h.get("baseline")
    if baseline is not None:
        approved = {(b["port"], b["proto"]) for b in baseline}
        for p in ports:
            if (p["port"], p["proto"]) not in approved:
                exposed = True
                out.find("probe.unapproved_service", "4-3", "medium",
                         f"{ip}:{p['port']}/{p['proto']} new",
                         N_("A service outside the approved baseline is open: {label} {port}"),
                         ts, {"port": p["port"], "proto": p["proto"],
                              "service": p.get("service", "")},
                         label=label, port=f"{p['port']}/{p['proto']}")
    out.covered.add("probe.services")
    out.check("exposed_services", "4-3", "fail" if exposed else "pass", ip,
              {"open": [f"{p['port']}/{p['proto']}" for p in ports]}, "probe.services",
              [f"{ip} {kind} {label} ({len(ports)} open)"])


def isolation_checks(out: Outcome, iso: dict[str, Any], ts: float) -> None:
    subject = f"guest {iso['network']}"
    if not iso.get("unavailable"):  # a test that could not run resolves nothing
        out.cleared.append(("probe.client_isolation", subject))
    peers = iso["answered"]
    expected = iso.get("expected", [])
    if peers:
        out.find("probe.client_isolation", "3-5", "high", subject,
                 N_("Guests can reach each other ({n} stations answered)"), ts,
                 {"interface": iso["interface"], "answered": peers[:50]}, n=len(peers))
    # a pass needs a peer the test should not have reached, there at the time: with nobody
    # else on the guest network, silence is also what a network without isolation looks like
    unavailable = iso.get("unavailable", "")
    # a pass needs the test to have run: a missing capability is unknown, with its reason
    result = "fail" if peers else ("pass" if expected and not unavailable else "unknown")
    if result != "unknown":
        out.covered.add("probe.isolation")
    own = set(iso.get("own_peers", []))
    examined = ([f"{p['ip']} answered ({p['how']})" for p in peers[:50]] if peers else
                [] if unavailable else
                [f"{ip} {'appliance station' if ip in own else 'guest station'} stayed silent"
                 for ip in expected[:50]])
    evidence: dict[str, Any] = {"tested": iso["tested"], "answered": peers[:50],
                                "allowed": iso["allowed"], "expected": expected[:50],
                                "seen": iso.get("seen", [])[:50],
                                "not_present": iso.get("not_present", [])[:50]}
    if unavailable:
        evidence["reason"] = unavailable
    elif result == "unknown":
        evidence["reason_ja"], evidence["reason"] = _no_peer_reason(iso)
    out.check("client_isolation", "3-5", result, subject, evidence, "probe.isolation", examined)


def _when(ts: float | None, lang: str) -> str:
    if ts is None:
        return gettext("never seen", lang)
    at = datetime.fromtimestamp(ts).isoformat(sep=" ", timespec="seconds")
    return gettext("last seen {at}", lang, at=at)


def _no_peer_reason(iso: dict[str, Any]) -> tuple[str, str]:
    """Why 3-⑤ had nobody to fail against, in Japanese and English: the configured peers that
    were not seen recently, with when they last were, else that no peer was known at all."""
    window = int(iso.get("fresh_s", 0))
    absent = [p for p in iso.get("not_present", []) if p["configured"]]
    if not absent:
        return both("no peer to test: no other guest station was seen on the guest network in "
                    "the last {seconds} s and no isolation peer is configured "
                    "(probe.isolation_peers)", seconds=window)
    msgid = N_("no peer to test: the configured isolation peers were not seen on the guest "
               "network in the last {seconds} s: {peers}")
    ja, en = (gettext(msgid, lang, seconds=window, peers=", ".join(
        f"{p['ip']} ({_when(p['last_seen'], lang)})" for p in absent[:10]))
        for lang in ("ja", "en"))
    return ja, en


def separation_checks(out: Outcome, sep: dict[str, Any], ts: float) -> None:
    if sep["targets"]:  # nothing tried is nothing shown
        out.covered.add("probe.separation")
    for t in sep["targets"]:
        out.cleared.append(("probe.guest_to_business", t))
    for r in sep["reached"]:
        out.find("probe.guest_to_business", "3-6", "critical", r["ip"],
                 N_("The business network is reachable from the guest side: {ip} ({how})"), ts, r,
                 ip=r["ip"], how=r["how"])
    reached = {r["ip"]: r["how"] for r in sep["reached"]}
    evidence: dict[str, Any] = {"tested": sep["targets"][:50], "reached": sep["reached"][:50]}
    for why in ("unavailable", "icmp_unavailable"):
        if sep.get(why):
            evidence["reason" if why == "unavailable" else why] = sep[why]
    out.check("guest_separation", "3-6",
              "fail" if reached else ("pass" if sep["targets"] else "unknown"),
              ",".join(sep["networks"]), evidence, "probe.separation",
              [f"{ip} {'reached (' + reached[ip] + ')' if ip in reached else 'not reachable'}"
               for ip in sep["targets"][:100]])


def printer_checks(out: Outcome, hosts: list[dict[str, Any]], sep: dict[str, Any] | None,
                   mappings: list[dict[str, Any]], ts: float) -> None:
    kinds = {h["ip"]: (h.get("device") or {}).get("class", "other") for h in hosts}
    bad = False
    for h in hosts:
        out.cleared.append(("probe.printer_exposed", f"{h['ip']} "))
    for m in mappings:
        target = m.get("NewInternalClient", "")
        if kinds.get(target) in ("printer", "camera"):
            bad = True
            out.find("probe.printer_exposed", "4-4", "high",
                     f"{target} mapped {m.get('NewProtocol', '')} {m.get('NewExternalPort', '')}",
                     N_("A router UPnP port mapping exposes {kind} {target} to the internet"), ts,
                     m, kind=kinds[target], target=target)
    if sep is not None:
        for r in sep.get("reached_hosts", []):
            if kinds.get(r["ip"]) == "printer" and r["ip"] not in sep.get("allowed", []):
                bad = True
                out.find("probe.printer_exposed", "4-4", "high", f"{r['ip']} from guest",
                         N_("The printer is reachable from the guest side: {ip}"), ts, r,
                         ip=r["ip"])
    printers = [ip for ip, k in kinds.items() if k == "printer"]
    if mappings or sep is not None or printers:
        # the automatic part needs a printer to be about: UPnP mappings and guest-side
        # reachability of the printers found; outbound rules are attested (4-4 outbound_rules)
        if printers or bad:
            out.covered.add("probe.printers")
        guest = sep is not None
        out.check("printer_exposure", "4-4", "fail" if bad else ("pass" if printers else
                                                                  "unknown"), "facility",
                  {"mappings": len(mappings), "printers": printers}, "probe.printers",
                  [f"{ip} printer: {len(mappings)} UPnP mappings checked"
                   + (", guest-side reachability tried" if guest else "") for ip in printers])


def website_checks(out: Outcome, sites: list[dict[str, Any]], ts: float) -> None:
    for s in sites:
        if s["result"] == "unknown":
            out.check("website_tls", "2-3", "unknown", s["url"], s)
            continue
        out.covered.add("probe.website")
        out.cleared.append(("probe.website_tls", s["url"]))
        examined = [f"{s['url']} ({s['result']})"]
        if s["result"] in ("fail", "warn"):
            sev = "high" if s["result"] == "fail" else "medium"
            what = "; ".join(s["problems"]) or "certificate expires soon"
            out.find("probe.website_tls", "2-3", sev, s["url"],
                     N_("Web site TLS problem: {url} — {what}"), ts, s, url=s["url"], what=what)
        out.check("website_tls", "2-3", s["result"], s["url"], s, "probe.website", examined)
