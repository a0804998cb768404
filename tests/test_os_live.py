"""Rental PCs and operating systems in network namespaces (#18): SMB2 responders that answer
like Windows 10 22H2, Windows 11 23H2 and 25H2, a real Samba, and a guest's own laptop answering
SMB on the guest network. The probe runs inside the prober namespace through the CLI.

Dates: the catalog's Windows dates are fixed (10 22H2 ended 2025-10-14; 11 23H2 2025-11-11 for
Home/Pro and 2026-11-10 for Enterprise/Education; 11 25H2 2027-10-12 / 2028-10-10), so what is
expected follows from today's date and is computed, not assumed.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests import netns
from tests.conftest import ROOT

pytestmark = pytest.mark.root
RESP = [sys.executable, str(ROOT / "tests" / "tools" / "smbresponder.py")]
RDP = [sys.executable, str(ROOT / "tests" / "tools" / "rdpresponder.py")]
BIZ, GUEST = "192.0.2.0/24", "198.51.100.0/24"
WIN10, W23H2, W25H2, WIN10_UNREG, SAMBA, LAPTOP = ("192.0.2.41", "192.0.2.42", "192.0.2.43",
                                                   "192.0.2.44", "192.0.2.45", "198.51.100.21")
RDP_PC = "192.0.2.46"
LOBBY = "198.51.100.30"  # a rental PC lent on the guest network, registered by its MAC


def _wait_port(tb: netns.Testbed, host: str, port: int, deadline_s: float = 20) -> None:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if f":{port} " in tb.exec(host, "ss", "-tln", check=False).stdout:
            return
        time.sleep(0.1)
    raise RuntimeError(f"{host}: nothing listens on {port}")


def _samba(tb: netns.Testbed, d: Path) -> None:
    root = d / "samba"
    for sub in ("private", "lock", "state", "cache", "pid", "share", "log"):
        (root / sub).mkdir(parents=True)
    conf = root / "smb.conf"
    conf.write_text(f"""[global]
workgroup = OFFICE
netbios name = NAS-SAMBA
server role = standalone server
interfaces = {SAMBA}/24
bind interfaces only = yes
smb ports = 445
disable netbios = yes
private dir = {root / 'private'}
lock directory = {root / 'lock'}
state directory = {root / 'state'}
cache directory = {root / 'cache'}
pid directory = {root / 'pid'}
log file = {root / 'log'}/log.%m
ncalrpc dir = {root / 'ncalrpc'}
load printers = no
printcap name = /dev/null
[share]
path = {root / 'share'}
""")
    tb.spawn("samba", shutil.which("smbd") or "/usr/sbin/smbd", "--foreground",
             "--no-process-group", "-s", str(conf), "--debug-stdout",
             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _wait_port(tb, "samba", 445)


def _run(ns: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "PYTHONPATH": str(ROOT)}
    return subprocess.run(["ip", "netns", "exec", ns,
                           str(Path(sys.executable).with_name("officeguard")), *args],
                          capture_output=True, text=True, timeout=300, env=env)


@pytest.fixture(scope="module")
def bed() -> Iterator[dict[str, Any]]:
    ok, why = netns.available()
    if not ok:
        pytest.skip(why)
    if not shutil.which("smbd"):
        pytest.skip("needs smbd (Debian package samba; make test installs it as root)")
    d = Path(tempfile.mkdtemp(prefix="og-os-"))
    tb = netns.Testbed()
    try:
        tb.bridge("biz")
        tb.bridge("guest")
        tb.router("router", [("guest", "198.51.100.1/24"), ("biz", "192.0.2.1/24")])
        for name, ip, build, nb in (("win10", WIN10, 19045, "RENTAL-PC-01"),
                                    ("w23h2", W23H2, 22631, "RENTAL-PC-02"),
                                    ("w25h2", W25H2, 26200, "RENTAL-PC-03"),
                                    ("win10u", WIN10_UNREG, 19045, "STAFF-PC-07")):
            tb.link(name, "biz", f"{ip}/24", gateway="192.0.2.1")
            tb.spawn(name, *RESP, "--build", str(build), "--name", nb,
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        tb.link("laptop", "guest", f"{LAPTOP}/24", gateway="198.51.100.1")
        tb.spawn("laptop", *RESP, "--build", "22631", "--name", "GUEST-LAPTOP",
                 "--dns", "guest-home.example", stdout=subprocess.DEVNULL,
                 stderr=subprocess.DEVNULL)
        tb.link("lobby", "guest", f"{LOBBY}/24", gateway="198.51.100.1")
        tb.spawn("lobby", *RESP, "--build", "19045", "--name", "LOBBY-PC",
                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        tb.link("samba", "biz", f"{SAMBA}/24", gateway="192.0.2.1")
        # a Windows 11 24H2 PC that only has RDP with NLA open
        from tests.probebed import make_certs

        (d / "certs").mkdir()
        _ca, leaf, key = make_certs(d / "certs", expired=False)
        tb.link("rdp", "biz", f"{RDP_PC}/24", gateway="192.0.2.1")
        tb.spawn("rdp", *RDP, "--build", "26100", "--name", "MEETING-PC", "--cert", str(leaf),
                 "--key", str(key), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        tb.host("prober")
        tb.link("prober", "biz", "192.0.2.10/24", ifname="eth0")
        tb.link("prober", "guest", "198.51.100.10/24", ifname="eth1")
        _samba(tb, d)
        _wait_port(tb, "rdp", 3389)
        for name in ("win10", "w23h2", "w25h2", "win10u", "laptop", "lobby"):
            _wait_port(tb, name, 445)
        cfg = d / "officeguard.toml"
        cfg.write_text(f"""
[storage]
data_dir = "{d / 'data'}"
[networks]
guest = ["{GUEST}"]
business = ["{BIZ}"]
gateways = ["192.0.2.1", "198.51.100.1"]
[probe]
scope = ["{BIZ}", "{GUEST}"]
ports = [22, 80, 445, 3389]
rate_per_s = 1000
host_rate_per_s = 200
connect_timeout_s = 1.0

[[rental_pcs]]
label = "Rental PC 01 (Win10)"
mac = "{tb.hosts['win10'].mac}"

[[rental_pcs]]
label = "Rental PC 02 (Win11 23H2)"
ip = "{W23H2}"

[[rental_pcs]]
label = "Rental PC 03 (Win11 25H2)"
ip = "{W25H2}"

[[rental_pcs]]
label = "Lobby PC"
mac = "{tb.hosts['lobby'].mac}"

[[rental_pcs]]
label = "Rental NAS (Samba)"
ip = "{SAMBA}"
""")
        r = _run(tb.hosts["prober"].ns, "probe", "--config", str(cfg), "--json", "--jobs",
                 "scan")
        assert r.returncode == 0, r.stderr[-3000:]
        yield {"tb": tb, "dir": d, "cfg": cfg, "doc": json.loads(r.stdout),
               "ns": tb.hosts["prober"].ns}
    finally:
        tb.close()
        shutil.rmtree(d, ignore_errors=True)


def _host(doc: dict[str, Any], ip: str) -> dict[str, Any]:
    return next(h for h in doc["hosts"] if h["ip"] == ip)


def test_the_probe_names_each_os_and_release(bed: dict[str, Any]) -> None:
    doc = bed["doc"]
    for ip, name, build in ((WIN10, "Windows 10 22H2", 19045), (W23H2, "Windows 11 23H2", 22631),
                            (W25H2, "Windows 11 25H2", 26200),
                            (WIN10_UNREG, "Windows 10 22H2", 19045)):
        h = _host(doc, ip)
        ntlm = h["smb"]["ntlm"]
        assert ntlm["version"]["major"] == 10 and ntlm["version"]["minor"] == 0  # 10 and 11 alike
        assert ntlm["version"]["build"] == build
        assert h["os"]["name"] == f"{name} (build {build})" and h["os"]["source"] == "smb ntlmssp"
    assert _host(doc, WIN10)["smb"]["ntlm"]["target_info"]["netbios_computer"] == "RENTAL-PC-01"
    samba = _host(doc, SAMBA)
    assert samba["smb"]["dialect"] in ("2.0.2", "2.1", "3.0", "3.0.2")
    assert samba["smb"]["ntlm"]["target_info"]["netbios_computer"] == "NAS-SAMBA"
    assert samba["os"]["family"] == "Samba"


def _os_findings(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["subject"].split()[0]: f for f in doc["findings"] if f["rule"] == "probe.os_eol"}


def test_rental_pcs_past_end_of_support_raise_5_1(bed: dict[str, Any]) -> None:
    got = _os_findings(bed["doc"])
    today = date.today()
    win10 = got[WIN10]
    assert (win10["measure"], win10["severity"]) == ("5-1", "critical")
    assert "2025-10-14" in win10["title_en"] and "Rental PC 01" in win10["title_en"]
    if today > date(2026, 11, 10):  # past for every edition; edition unknown here
        w23 = got[W23H2]
        assert (w23["measure"], w23["severity"]) == ("5-1", "critical")
        assert "2026-11-10" in w23["title_en"] and "latest end date among" in w23["title_en"]
    if today < date(2028, 10, 10) - timedelta(days=90):
        assert W25H2 not in got  # 25H2 is supported: nothing raised
    checks = {(c["check"], c["subject"]): c["result"] for c in bed["doc"]["checks"]}
    assert checks[("rental_os", "Rental PC 03 (Win11 25H2)")] == "pass"
    assert checks[("rental_os", "Rental NAS (Samba)")] == "unknown"  # no release to judge


def test_a_rental_pc_on_the_guest_network_is_examined(bed: dict[str, Any]) -> None:
    h = _host(bed["doc"], LOBBY)
    assert h["rental"]["label"] == "Lobby PC" and h["os"]["name"].startswith("Windows 10 22H2")
    f = _os_findings(bed["doc"])[LOBBY]
    assert (f["measure"], f["severity"]) == ("5-1", "critical")


def test_unregistered_windows_10_raises_nothing_under_5_1(bed: dict[str, Any]) -> None:
    f = _os_findings(bed["doc"])[WIN10_UNREG]
    assert f["measure"] == "4-1" and f["severity"] == "high"
    assert not [x for x in bed["doc"]["findings"] if x["measure"] == "5-1"
                and x["subject"].startswith(WIN10_UNREG)]


def test_a_guests_own_laptop_is_not_examined_nor_exported(bed: dict[str, Any]) -> None:
    doc = bed["doc"]
    assert LAPTOP not in {h["ip"] for h in doc["hosts"]}
    assert "GUEST-LAPTOP" not in json.dumps(doc)
    out = bed["dir"] / "export"
    today = date.today()
    r = _run(bed["ns"], "export", "--config", str(bed["cfg"]), "--from", today.isoformat(),
             "--to", (today + timedelta(days=1)).isoformat(), "--formats", "csv,json",
             "--out", str(out))
    assert r.returncode == 0, r.stderr[-2000:]
    files = [p for p in out.rglob("*") if p.is_file()]
    assert any(p.suffix == ".json" for p in files)
    text = "\n".join(p.read_text("utf-8", "replace") for p in files)
    assert WIN10 in text  # the export does carry the facility's own devices' findings
    for secret in ("GUEST-LAPTOP", "guest-home.example", LAPTOP,
                   bed["tb"].hosts["laptop"].mac):
        assert secret not in text, secret


def test_catalog_and_kev_updates_change_the_verdict_on_the_next_cycle(bed: dict[str, Any]) -> None:
    from tests.test_catalog_update import newer_catalog

    new = newer_catalog(bed["dir"], end=(date.today() - timedelta(days=1)).isoformat())
    digest = hashlib.sha256(new.read_bytes()).hexdigest()
    r = _run(bed["ns"], "catalog", "update", str(new), "--sha256", digest, "--config",
             str(bed["cfg"]))
    assert r.returncode == 0, r.stderr
    kev_file = ROOT / "tests" / "data" / "kev-test.json"
    r = _run(bed["ns"], "catalog", "update", str(kev_file), "--kind", "kev", "--sha256",
             hashlib.sha256(kev_file.read_bytes()).hexdigest(), "--config", str(bed["cfg"]))
    assert r.returncode == 0, r.stderr
    r = _run(bed["ns"], "probe", "--config", str(bed["cfg"]), "--json", "--jobs", "scan")
    assert r.returncode == 0, r.stderr[-3000:]
    f = _os_findings(json.loads(r.stdout))[W25H2]
    assert (f["measure"], f["severity"]) == ("5-1", "critical")
    assert "catalog 2026-11-30" in f["title_en"]  # the data's date, where the verdict uses it
    kevs = {x["subject"]: x for x in json.loads(r.stdout)["findings"]
            if x["rule"] == "probe.os_kev"}
    k = kevs[f"{WIN10} kev"]  # Windows 10 22H2 ended 2025-10-14; two test entries came later
    assert (k["measure"], k["severity"]) == ("5-1", "critical")
    assert "CVE-2026-90001" in k["title_en"]


def test_rdp_with_nla_names_the_release(bed: dict[str, Any]) -> None:
    h = _host(bed["doc"], RDP_PC)
    assert h["rdp"]["selected"] == "credssp" and h["rdp"]["nla"] is True
    assert h["rdp"]["ntlm"]["version"]["build"] == 26100
    assert h["rdp"]["ntlm"]["target_info"]["netbios_computer"] == "MEETING-PC"
    # not registered, so both readings of build 26100 stay open
    assert h["os"]["source"] == "rdp ntlmssp"
    assert h["os"]["name"] == "Windows 11 24H2 or Windows Server 2025 (build 26100)"


def test_rdp_reading_agrees_with_nmap(bed: dict[str, Any]) -> None:
    """nmap's rdp-ntlm-info script does the same CredSSP exchange; both read the same fields."""
    if not shutil.which("nmap"):
        pytest.skip("needs nmap")
    r = subprocess.run(["ip", "netns", "exec", bed["ns"], "nmap", "-Pn", "-n", "-p", "3389",
                        "--script", "rdp-ntlm-info", RDP_PC, "-oX", "-"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    root = ET.fromstring(r.stdout)
    elems = {e.get("key"): e.text for e in root.iter("elem")}
    ntlm = _host(bed["doc"], RDP_PC)["rdp"]["ntlm"]
    v = ntlm["version"]
    assert elems["Product_Version"] == f"{v['major']}.{v['minor']}.{v['build']}" == "10.0.26100"
    assert elems["NetBIOS_Computer_Name"] == ntlm["target_info"]["netbios_computer"]
    assert elems["DNS_Domain_Name"] == ntlm["target_info"]["dns_domain"]
