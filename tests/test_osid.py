"""OS identification without an agent (#18): NTLMSSP parsing, builds → releases, SSH/HTTP
banners, the end-of-support catalog and its verdicts, the 5-① / 3-① / 4-① findings. Pure."""

from __future__ import annotations

import json
import struct
from datetime import date
from typing import Any

import pytest

from agent import osid
from agent.probe import osprobe, rdp, smb
from agent.probe.checks import Outcome
from appliance import eol
from appliance.config import ConfigError, from_mapping

TODAY = date(2026, 12, 1)
CAT = eol.load()

# [MS-NLMP] 4.2.4.3: the specification's own CHALLENGE example (version 6.0.6000, "Server")
MS_NLMP_CHALLENGE = bytes.fromhex(
    "4e544c4d53535000020000000c000c003800000033828ae20123456789abcdef000000000000000024002400"
    "44000000060070170000000f53006500720076006500720002000c0044006f006d00610069006e0001000c00"
    "53006500720076006500720000000000")


def test_ms_nlmp_example_challenge() -> None:
    c = smb.parse_challenge(b"\xa1\x81junk" + MS_NLMP_CHALLENGE)
    assert c["version"] == {"major": 6, "minor": 0, "build": 6000, "ntlm_revision": 15}
    assert c["target_name"] == "Server"
    assert c["target_info"] == {"netbios_domain": "Domain", "netbios_computer": "Server"}


@pytest.mark.parametrize("blob,why", [
    (b"", "no NTLMSSP"), (b"NTLMSSP\x00\x01\x00\x00\x00" + bytes(60), "not a CHALLENGE"),
    (b"NTLMSSP\x00\x02", "not a CHALLENGE")])
def test_bad_challenges_are_refused(blob: bytes, why: str) -> None:
    with pytest.raises(smb.SmbError, match=why):
        smb.parse_challenge(blob)


def test_truncated_target_info_is_not_read_past_its_end() -> None:
    m = bytearray(MS_NLMP_CHALLENGE)
    struct.pack_into("<HH", m, 40, 200, 200)  # claims more target info than there is
    c = smb.parse_challenge(bytes(m))
    assert c["target_info"] == {} and c["version"]["build"] == 6000


def test_requests_are_well_formed() -> None:
    neg = smb.negotiate_request()
    assert struct.unpack(">I", neg[:4])[0] == len(neg) - 4
    assert neg[4:8] == b"\xfeSMB" and struct.unpack_from("<H", neg, 4 + 12)[0] == 0
    count = struct.unpack_from("<H", neg, 4 + 64 + 2)[0]
    dialects = struct.unpack_from(f"<{count}H", neg, 4 + 64 + 36)
    assert dialects == smb.DIALECTS
    ss = smb.session_setup_request(1)
    off, ln = struct.unpack_from("<HH", ss, 4 + 64 + 12)
    blob = ss[4 + off:4 + off + ln]
    assert blob[0] == 0x60 and smb.NTLMSSP in blob and len(ss) == 4 + off + ln
    cr = rdp.connection_request()
    assert cr[:2] == b"\x03\x00" and struct.unpack(">H", cr[2:4])[0] == len(cr) == 19


def test_rdp_connection_confirm() -> None:
    cc = bytes.fromhex("0300001306d00000123400") + struct.pack("<BBHI", 2, 0, 8, 2)
    assert rdp.parse_connection_confirm(cc) == {"selected": "credssp", "nla": True}
    fail = bytes.fromhex("0300001306d00000123400") + struct.pack("<BBHI", 3, 0, 8, 5)
    assert rdp.parse_connection_confirm(fail)["failure_code"] == 5


def _ntlm(build: int, major: int = 10, minor: int = 0) -> dict[str, Any]:
    return {"version": {"major": major, "minor": minor, "build": build, "ntlm_revision": 15},
            "target_info": {"netbios_computer": "PC"}}


@pytest.mark.parametrize("build,client,name,cands", [
    (19045, None, "Windows 10 22H2", [("windows", "10-22h2", "Windows 10 22H2")]),
    (22631, None, "Windows 11 23H2", [("windows", "11-23h2", "Windows 11 23H2")]),
    (26200, None, "Windows 11 25H2", [("windows", "11-25h2", "Windows 11 25H2")]),
    (20348, None, "Windows Server 2022", [("windows-server", "2022", "Windows Server 2022")]),
    (17763, None, "Windows 10 1809 or Windows Server 2019",
     [("windows", "10-1809", "Windows 10 1809"), ("windows-server", "2019",
                                                   "Windows Server 2019")]),
    (17763, True, "Windows 10 1809", [("windows", "10-1809", "Windows 10 1809")]),
])
def test_builds_name_the_release(build: int, client: bool | None, name: str,
                                 cands: list[tuple[str, str, str]]) -> None:
    o = osid.from_ntlm(_ntlm(build), "smb ntlmssp", client)
    assert o.family == "Windows" and o.name == f"{name} (build {build})"
    assert o.candidates == cands and o.version == f"10.0.{build}"


def test_samba_and_old_windows() -> None:
    assert osid.from_ntlm(_ntlm(0, 6, 1), "smb ntlmssp").family == "Samba"
    o = osid.from_ntlm(_ntlm(7601, 6, 1), "smb ntlmssp", True)
    assert o.candidates == [("windows", "7-sp1", "Windows 7")]


@pytest.mark.parametrize("banner,name,cand", [
    ("SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3", "Debian 12", ("debian", "12", "Debian 12")),
    ("SSH-2.0-OpenSSH_8.4p1 Debian-5+deb11u3", "Debian 11", ("debian", "11", "Debian 11")),
    ("SSH-2.0-OpenSSH_7.9p1 Debian-10", "Debian 10", ("debian", "10", "Debian 10")),
    ("SSH-2.0-OpenSSH_8.9p1 Ubuntu-3ubuntu0.10", "Ubuntu 22.04",
     ("ubuntu", "22.04", "Ubuntu 22.04")),
    ("SSH-2.0-OpenSSH_9.2p1 Raspbian-2+deb12u2", "Raspberry Pi OS (Debian 12)",
     ("debian", "12", "Raspberry Pi OS (Debian 12)")),
])
def test_ssh_banners(banner: str, name: str, cand: tuple[str, str, str]) -> None:
    o = osid.from_ssh(banner)
    assert o is not None and o.name == name and o.candidates == [cand]
    assert o.evidence["banner"] == banner


@pytest.mark.parametrize("descr,name,cand", [
    ("RouterOS RB4011iGS+", None, None),  # no version: nothing to judge
    ("RouterOS 6.49.10 (long-term)", "MikroTik RouterOS 6.49", ("routeros", "6.49")),
    ("OpenWrt 23.05.3 r23809-234f1a2efa", "OpenWrt 23.05", ("openwrt", "23.05")),
    ("FortiGate-60F FortiOS v7.2.8", "FortiOS 7.2", ("fortios", "7.2")),
])
def test_router_firmware_from_snmp(descr: str, name: str | None,
                                   cand: tuple[str, str] | None) -> None:
    o = osid.from_snmp(descr)
    if name is None:
        assert o is None
        return
    assert o is not None and o.name == name and o.candidates[0][:2] == cand
    v = eol.verdict(CAT, cand[0], cand[1], TODAY) if cand else None
    assert v is not None and v["catalog_as_of"] == CAT.as_of  # the catalog knows the line
    # found in a probed host's SNMP answer, before any banner
    o2 = osid.identify({"snmp": {"sysDescr": descr}, "ports": []})
    assert o2 is not None and o2.source == "snmp sysdescr"


def test_plain_openssh_and_http_servers() -> None:
    assert osid.from_ssh("SSH-2.0-OpenSSH_9.6") is None
    h = osid.from_http_server("Apache/2.4.62 (Debian)")
    assert h is not None and h.name == "Debian" and not h.candidates
    iis = osid.from_http_server("Microsoft-IIS/10.0")
    assert iis is not None and iis.family == "Windows"
    assert osid.from_http_server("lighttpd/1.4.69") is None


def test_identify_prefers_ntlm_and_reads_probe_ssh_fields() -> None:
    host = {"ports": [{"port": 22, "proto": "tcp", "service": "ssh", "product": "OpenSSH",
                       "version": "9.2p1 Debian 2+deb12u3", "banner": ""}]}
    o = osid.identify(host)
    assert o is not None and o.name == "Debian 12" and o.evidence["port"] == 22
    o = osid.identify({**host, "smb": {"port": 445, "ntlm": _ntlm(19045)}})
    assert o is not None and o.source == "smb ntlmssp" and o.evidence["port"] == 445


# -- the catalog ---------------------------------------------------------------------------
def test_snapshot_has_the_products_that_matter() -> None:
    for p in ("windows", "windows-server", "macos", "debian", "ubuntu", "rhel", "rocky-linux",
              "almalinux", "openwrt", "routeros", "fortios", "synology-dsm"):
        assert CAT.cycles(p), p
    assert CAT.as_of and "endoflife.date" in CAT.source


@pytest.mark.parametrize("cycle,status,end", [
    ("7.1", "past", "2025-06-30"),  # LTS: the end of its Extended Life phase
    ("7.2", "past", "2025-12-31"),
    ("7.3", "supported", "2028-10-31"),
])
def test_nas_firmware_lines_are_in_the_catalog(cycle: str, status: str, end: str) -> None:
    v = eol.verdict(CAT, "synology-dsm", cycle, date(2026, 12, 1))
    assert v is not None and v["status"] == status and v["eol"] == end


@pytest.mark.parametrize("cycle,edition,status,end,assumed", [
    ("10-22h2", "", "past", "2025-10-14", False),
    ("11-23h2", "", "past", "2026-11-10", True),  # every edition past by 2026-12-01
    ("11-23h2", "pro", "past", "2025-11-11", False),
    ("11-23h2", "education", "past", "2026-11-10", False),
    ("11-25h2", "", "supported", "2028-10-10", True),
    ("11-25h2", "home", "supported", "2027-10-12", False),
])
def test_windows_verdicts(cycle: str, edition: str, status: str, end: str,
                          assumed: bool) -> None:
    v = eol.verdict(CAT, "windows", cycle, TODAY, edition)
    assert v is not None
    assert (v["status"], v["eol"], v["edition_assumed"]) == (status, end, assumed)
    assert v["catalog_as_of"] == CAT.as_of


def test_debian_lts_counts_as_support() -> None:
    v = eol.verdict(CAT, "debian", "12", TODAY)  # regular security support ended 2026-07-11
    assert v is not None and (v["status"], v["eol"], v["eol_regular"]) == (
        "supported", "2028-06-30", "2026-07-11") and v["extended_by"] == "Debian LTS"
    old = eol.verdict(CAT, "debian", "11", TODAY)
    assert old is not None and (old["status"], old["eol"]) == ("past", "2026-08-31")
    u = eol.verdict(CAT, "ubuntu", "25.04", TODAY)  # no free extension for Ubuntu
    assert u is not None and u["status"] == "past"


def test_soon_and_esu() -> None:
    v = eol.verdict(CAT, "windows", "11-24h2", date(2026, 8, 1), "pro")
    assert v is not None and v["status"] == "soon" and v["days_left"] == 73
    esu = eol.verdict(CAT, "windows", "10-22h2", TODAY, "", "2027-10-12")
    assert esu is not None and esu["status"] == "esu" and esu["esu_until"] == "2027-10-12"
    over = eol.verdict(CAT, "windows", "10-22h2", TODAY, "", "2026-10-13")  # consumer ESU over
    assert over is not None and over["status"] == "past"
    capped = eol.verdict(CAT, "windows", "10-22h2", TODAY, "", "2031-01-01")
    assert capped is not None and capped["esu_until"] == "2028-10-10"  # the catalog's ESU end
    no_esu = eol.verdict(CAT, "windows", "11-23h2", TODAY, "", "2027-10-12")
    assert no_esu is not None and no_esu["status"] == "past"  # there is no ESU for 11 23H2


@pytest.mark.parametrize("doc,err", [
    ({}, "schema"), ({"schema": eol.SCHEMA, "as_of": "x", "products": {}}, "as_of"),
    ({"schema": eol.SCHEMA, "as_of": "2026-01-01", "products": {}}, "non-empty"),
    ({"schema": eol.SCHEMA, "as_of": "2026-01-01",
      "products": {"x": {"releases": [{"cycle": "1", "eol": "soon"}]}}}, "not a date"),
])
def test_bad_catalogs(doc: Any, err: str) -> None:
    with pytest.raises(eol.EolError, match=err):
        eol.parse(doc)


# -- findings ----------------------------------------------------------------------------------
def _host(ip: str, build: int, rental: osprobe.RentalPc | None, kind: str = "pc"
          ) -> dict[str, Any]:
    ident = osid.from_ntlm(_ntlm(build), "smb ntlmssp", True if rental else None)
    h: dict[str, Any] = {"ip": ip, "device": {"class": kind}, "os": ident.as_dict(),
                         "os_support": osprobe.judge(CAT, ident, TODAY, rental)}
    if rental:
        h["rental"] = {"label": rental.label, "edition": rental.edition}
    return h


def _run(hosts: list[dict[str, Any]], rentals: list[osprobe.RentalPc]) -> Outcome:
    out = Outcome()
    osprobe.checks(out, osprobe.OsPlan(rentals, [], CAT, TODAY), hosts, 1.0)
    return out


def test_findings_land_on_the_right_measure() -> None:
    pcs = [osprobe.RentalPc("PC-01", ip="192.0.2.41"), osprobe.RentalPc("PC-02", ip="192.0.2.42"),
           osprobe.RentalPc("PC-03", ip="192.0.2.43"), osprobe.RentalPc("PC-04", ip="192.0.2.99")]
    hosts = [_host("192.0.2.41", 19045, pcs[0]), _host("192.0.2.42", 22631, pcs[1]),
             _host("192.0.2.43", 26200, pcs[2]), _host("192.0.2.50", 19045, None),
             _host("192.0.2.1", 19045, None, kind="router")]
    out = _run(hosts, pcs)
    got = {(d.subject, d.measure, d.severity) for d in out.drafts}
    assert got == {("192.0.2.41 os", "5-1", "critical"), ("192.0.2.42 os", "5-1", "critical"),
                   ("192.0.2.50 os", "4-1", "high"), ("192.0.2.1 os", "3-1", "critical")}
    by = {d.subject: d for d in out.drafts}
    assert "2025-10-14" in by["192.0.2.41 os"].title_en
    assert "latest end date among editions" in by["192.0.2.42 os"].title_en
    assert "2026-11-10" in by["192.0.2.42 os"].title_en
    assert f"catalog {CAT.as_of}" in by["192.0.2.41 os"].title_en
    ev = by["192.0.2.41 os"].evidence
    assert ev["os"]["source"] == "smb ntlmssp" and ev["support"]["catalog_as_of"] == CAT.as_of
    checks = {(c["check"], c["subject"]): c["result"] for c in out.checks}
    assert checks[("rental_os", "PC-03")] == "pass"
    assert checks[("rental_os", "PC-04")] == "unknown"  # registered, not seen
    assert "probe.rental_os" in out.covered


def test_esu_attestation_keeps_it_a_warning() -> None:
    pc = osprobe.RentalPc("PC-01", ip="192.0.2.41", esu_until="2027-10-12",
                          esu_evidence="ESU licence order 4711")
    out = _run([_host("192.0.2.41", 19045, pc)], [pc])
    (d,) = out.drafts
    assert (d.measure, d.severity) == ("5-1", "medium") and "2027-10-12" in d.title_en


def test_rental_config() -> None:
    c = from_mapping({"rental_pcs": [{"label": "PC-01", "mac": "AA-BB-CC-DD-EE-01",
                                      "edition": "pro"}]})
    assert c.rental_pcs[0].mac == "aa:bb:cc:dd:ee:01"
    for bad, msg in (({"label": "x"}, "mac or ip"),
                     ({"label": "x", "ip": "192.0.2.5", "esu_until": "2027-10-12"},
                      "esu_evidence"),
                     ({"label": "x", "ip": "192.0.2.5", "edition": "ultimate"}, "one of"),
                     ({"label": "x", "ip": "nope"}, "not an IP")):
        with pytest.raises(ConfigError, match=msg):
            from_mapping({"rental_pcs": [bad]})


def test_guests_own_devices_are_dropped() -> None:
    op = osprobe.OsPlan([osprobe.RentalPc("PC-G", mac="02:00:00:00:00:07")], ["198.51.100.0/24"],
                        infrastructure=frozenset({"198.51.100.1"}))
    from agent.probe.results import Discovered

    up = {"198.51.100.21": Discovered("02:00:00:00:00:21", "arp"),
          "198.51.100.22": Discovered("02:00:00:00:00:07", "arp"),
          "192.0.2.5": Discovered("", "icmp"),
          "198.51.100.1": Discovered("02:00:00:00:00:01", "arp")}
    assert set(osprobe.drop_guests(op, up)) == {"198.51.100.22", "192.0.2.5", "198.51.100.1"}


def test_kev_entries_after_the_end_of_support() -> None:
    from pathlib import Path

    from appliance import kev

    cat = kev.parse(json.loads((Path(__file__).parent / "data" / "kev-test.json").read_text()))
    hits = kev.unfixed_after_end(cat, "windows", "2025-10-14")
    # added on the end date itself still got its fix that day; the macOS entry is not Windows
    assert [k.cve for k in hits] == ["CVE-2026-90001", "CVE-2025-90002"]
    assert kev.unfixed_after_end(cat, "windows", "2026-11-10") == []
    assert kev.unfixed_after_end(cat, "debian", "2020-01-01") == []
    with pytest.raises(kev.KevError, match="vulnerabilities"):
        kev.parse({"vulnerabilities": [{"cveID": "X-1", "vendorProject": "a", "product": "b",
                                        "dateAdded": "2026-01-01"}]})


def test_a_kev_hit_is_critical_on_the_same_measure() -> None:
    from pathlib import Path

    from appliance import kev

    cat = kev.parse(json.loads((Path(__file__).parent / "data" / "kev-test.json").read_text()))
    pc = osprobe.RentalPc("PC-01", ip="192.0.2.41")
    h = _host("192.0.2.41", 19045, pc)
    sup = h["os_support"]
    hits = kev.unfixed_after_end(cat, sup["product"], sup["eol"])
    h["kev"] = {"catalog": cat.version, "released": cat.released, "after": sup["eol"],
                "count": len(hits), "entries": [{"cve": k.cve, "name": k.name,
                                                 "added": k.date_added, "ransomware":
                                                 k.ransomware} for k in hits]}
    out = _run([h], [pc])
    by = {d.rule: d for d in out.drafts}
    k = by["probe.os_kev"]
    assert (k.measure, k.severity) == ("5-1", "critical")
    assert "CVE-2026-90001" in k.title_en and "KEV 2026.11.30" in k.title_en
