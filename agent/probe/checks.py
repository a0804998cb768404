"""A probe cycle's observations → check results and finding drafts. Pure.

Each check names its guideline measure; a check that ran and found nothing clears the findings
it raised before (the engine resolves them), and a check that could not run says `unknown`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from agent.probe.results import CheckResult
from appliance.findings import FindingDraft

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

    def find(self, rule: str, measure: str, severity: str, subject: str, ja: str, en: str,
             ts: float, evidence: dict[str, Any]) -> None:
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
                     f"サポート終了の機器・ソフトウェア: {label}（{comp}）",
                     f"Past end of support: {label} ({comp})", ts, a)
        if a["status"] == "unsafe":
            bad = True
            out.find("probe.firmware_outdated", fw_measure, "high", subj,
                     f"脆弱性のある古いバージョン: {comp} {a['installed']}"
                     f"（{a['min_safe']} 以上に更新）",
                     f"Vulnerable old version: {comp} {a['installed']} (update to "
                     f"{a['min_safe']} or later)", ts, a)
        elif a["status"] == "outdated" and a.get("kind") == "device":
            bad = True
            out.find("probe.firmware_outdated", fw_measure, "medium", subj,
                     f"ファームウェアが最新ではありません: {label} {a['installed']}"
                     f"（最新 {a['latest']}）",
                     f"Firmware not current: {label} {a['installed']} (latest {a['latest']})",
                     ts, a)
    for adv in h.get("advisories", []):
        if (adv.get("cvss") or 0) >= 7.0 and not any(a["status"] == "current" and
                                                     a.get("kind") == "device" for a in assessed):
            bad = True
            out.find("probe.firmware_advisory", fw_measure, "medium", f"{ip} {adv['id']}",
                     f"脆弱性情報（JVN）が該当する可能性: {label} — {adv['id']}",
                     f"A JVN advisory may apply: {label} — {adv['id']}", ts, adv)
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
                     f"初期パスワードのままログインできます: {label}（{s['protocol']}, "
                     f"ユーザー {s['username'] or '-'}）",
                     f"Factory-default login works: {label} ({s['protocol']}, user "
                     f"{s['username'] or '-'})", ts, {k: v for k, v in s.items()})
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
        why_ja = why_en = ""
        sev = "medium"
        if svc == "telnet":
            why_ja, why_en, sev = "Telnet（平文の遠隔ログイン）が開いています", \
                "Telnet (clear-text remote login) is open", "high"
        elif svc == "ftp" and (p.get("ftp") or {}).get("anonymous"):
            why_ja, why_en, sev = "FTPに匿名でログインできます", \
                "FTP accepts anonymous login", "high"
        elif svc == "ftp":
            why_ja, why_en = "FTP（平文のファイル転送）が開いています", \
                "FTP (clear-text file transfer) is open"
        elif svc == "snmp":
            why_ja, why_en = "SNMP v1/v2c が初期コミュニティ名 public で応答します", \
                "SNMP v1/v2c answers the default community 'public'"
        elif svc == "upnp" and p["proto"] == "udp":
            why_ja, why_en, sev = "UPnP（SSDP）が応答します", "UPnP (SSDP) answers", "low"
        if why_en:
            exposed = True
            out.find("probe.exposed_service", "4-3", sev, subj, f"{why_ja}: {label}",
                     f"{why_en}: {label}", ts, {"port": port, "proto": p["proto"],
                                                 "service": svc, "banner": p.get("banner", "")})
        http = p.get("http") or {}
        if svc == "http" and http.get("admin"):
            exposed = True
            out.find("probe.insecure_admin" if kind in NETWORK_CLASSES else
                     "probe.exposed_service", _m(kind, "3-2", "4-3"), "medium",
                     f"{ip}:{port}/tcp http-admin",
                     f"管理画面が暗号化なし（http）で公開されています: {label}",
                     f"Admin page served over plain HTTP: {label}", ts,
                     {"port": port, "title": http.get("title", ""), "realm": http.get("realm", "")})
        rtsp = p.get("rtsp") or {}
        if rtsp.get("unauthenticated"):
            exposed = True
            # a stream served without credentials is critical, as a factory password is (4-2b)
            out.find("probe.unauthenticated_stream", "4-2", "critical", f"{ip}:{port}/tcp rtsp",
                     f"認証なしで映像を取得できます（RTSP）: {label}",
                     f"Video stream answers without credentials (RTSP): {label}", ts,
                     {"port": port, "describe_status": rtsp.get("describe_status"),
                      "sdp": rtsp.get("sdp", True)})
    baseline = h.get("baseline")
    if baseline is not None:
        approved = {(b["port"], b["proto"]) for b in baseline}
        for p in ports:
            if (p["port"], p["proto"]) not in approved:
                exposed = True
                out.find("probe.unapproved_service", "4-3", "medium",
                         f"{ip}:{p['port']}/{p['proto']} new",
                         "承認済みの構成にないサービスが開いています: "
                         f"{label} {p['port']}/{p['proto']}",
                         f"A service outside the approved baseline is open: {label} "
                         f"{p['port']}/{p['proto']}", ts, {"port": p["port"], "proto": p["proto"],
                                                           "service": p.get("service", "")})
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
                 f"ゲストWi-Fiの利用者同士が通信できます（{len(peers)}台が応答）",
                 f"Guests can reach each other ({len(peers)} stations answered)", ts,
                 {"interface": iso["interface"], "answered": peers[:50]})
    # a pass needs a peer the test should not have reached: with nobody else on the guest
    # network, silence is also what a network without isolation looks like
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
    evidence = {"tested": iso["tested"], "answered": peers[:50], "allowed": iso["allowed"],
                "expected": expected[:50]}
    if unavailable:
        evidence["reason"] = unavailable
    out.check("client_isolation", "3-5", result, subject, evidence, "probe.isolation", examined)


def separation_checks(out: Outcome, sep: dict[str, Any], ts: float) -> None:
    if sep["targets"]:  # nothing tried is nothing shown
        out.covered.add("probe.separation")
    for t in sep["targets"]:
        out.cleared.append(("probe.guest_to_business", t))
    for r in sep["reached"]:
        out.find("probe.guest_to_business", "3-6", "critical", r["ip"],
                 f"ゲスト側から業務ネットワークの機器に到達できます: {r['ip']}（{r['how']}）",
                 f"The business network is reachable from the guest side: {r['ip']} "
                 f"({r['how']})", ts, r)
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
                     f"ルーターのUPnPポート転送でインターネットに公開されています: {target}",
                     f"A router UPnP port mapping exposes {kinds[target]} {target} to the "
                     "internet", ts, m)
    if sep is not None:
        for r in sep.get("reached_hosts", []):
            if kinds.get(r["ip"]) == "printer" and r["ip"] not in sep.get("allowed", []):
                bad = True
                out.find("probe.printer_exposed", "4-4", "high", f"{r['ip']} from guest",
                         f"ゲスト側からプリンターに到達できます: {r['ip']}",
                         f"The printer is reachable from the guest side: {r['ip']}", ts, r)
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
                     f"Webサイトのhttps設定に問題があります: {s['url']}",
                     f"Web site TLS problem: {s['url']} — {what}", ts, s)
        out.check("website_tls", "2-3", s["result"], s["url"], s, "probe.website", examined)
