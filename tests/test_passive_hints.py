"""Passive OS hints (#18): DHCP, mDNS, LLMNR and NetBIOS packets → OS family / device class with
the packet fields that said so. A golden-packet table per source (packets built by scapy, an
encoder independent of ours); a capture the test writes, ingested through the LAN pipeline into
the store; and real client software (busybox udhcpc, Samba's nmbd) captured in a namespace."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
from scapy.all import BOOTP, DHCP, DNS, DNSQR, DNSRR, IP, UDP, Ether, raw, wrpcap
from scapy.layers.netbios import NBNSHeader, NBNSRegistrationRequest

from agent.parsers import dhcp as hp
from tests import netns

OG = str(Path(sys.executable).with_name("officeguard"))
MAC = "02:11:22:33:44:55"
WIN_PRL = [1, 3, 6, 15, 31, 33, 43, 44, 46, 47, 119, 121, 249, 252]
MAC_PRL = [1, 121, 3, 6, 15, 108, 114, 119, 252, 95, 44, 46]


def _dhcp(opts: list[Any], ciaddr: str = "0.0.0.0") -> Any:
    chaddr = bytes.fromhex(MAC.replace(":", "")) + bytes(10)
    return (IP(src=ciaddr, dst="255.255.255.255") / UDP(sport=68, dport=67)
            / BOOTP(chaddr=chaddr, xid=7, ciaddr=ciaddr) / DHCP(options=[*opts, "end"]))


def _mdns(*rrs: Any) -> Any:
    return (IP(src="192.0.2.80", dst="224.0.0.251") / UDP(sport=5353, dport=5353)
            / DNS(qr=1, aa=1, qd=[], an=list(rrs)))


def _nbns(name: bytes, suffix: int) -> Any:
    return (IP(src="192.0.2.82", dst="192.0.2.255") / UDP(sport=137, dport=137)
            / NBNSHeader(OPCODE=5, NM_FLAGS=0x11, QDCOUNT=1, ARCOUNT=1)
            / NBNSRegistrationRequest(QUESTION_NAME=name, SUFFIX=suffix,
                                      NB_ADDRESS="192.0.2.82"))


GOLDEN: list[tuple[str, Any, dict[str, Any]]] = [
    ("dhcp windows 10/11", _dhcp([("message-type", "request"),
                                  ("requested_addr", "192.0.2.77"),
                                  ("hostname", b"DESKTOP-4F8K2QX"),
                                  ("vendor_class_id", b"MSFT 5.0"),
                                  ("param_req_list", WIN_PRL)]),
     {"source": "dhcp", "family": "Windows", "device_class": "pc", "ip": "192.0.2.77",
      "hostname": "DESKTOP-4F8K2QX", "matched": "option60", "option55": WIN_PRL}),
    ("dhcp macOS by option 55", _dhcp([("message-type", "discover"),
                                       ("param_req_list", MAC_PRL),
                                       ("hostname", b"meeting-room")]),
     {"source": "dhcp", "family": "macOS", "device_class": "pc", "matched": "option55"}),
    ("dhcp android vendor class", _dhcp([("message-type", "request"),
                                         ("vendor_class_id", b"android-dhcp-14"),
                                         ("param_req_list", [1, 3, 6, 15, 26, 28, 51, 58, 59,
                                                             43, 114, 108])]),
     {"source": "dhcp", "family": "Android", "device_class": "phone", "matched": "option60"}),
    ("dhcp raspberry pi dhcpcd", _dhcp([
        ("message-type", "request"),
        ("vendor_class_id", b"dhcpcd-9.4.1:Linux-6.1.21-v8+:aarch64:Raspberry Pi 4 Model B"),
        ("param_req_list", [1, 121, 33, 3, 6, 28, 51, 58, 59])]),
     {"source": "dhcp", "family": "Raspberry Pi OS", "matched": "option60"}),
    ("dhcp unknown list, hostname", _dhcp([("message-type", "request"),
                                           ("hostname", b"Taros-iPhone"),
                                           ("param_req_list", [1, 3, 6])]),
     {"source": "dhcp", "family": "iOS", "matched": "option12"}),
    ("mdns apple device-info", _mdns(
        DNSRR(rrname="Office-MacBook.local", type="A", rdata="192.0.2.80"),
        DNSRR(rrname="Office-MacBook._device-info._tcp.local", type="TXT",
              rdata=[b"model=MacBookPro18,3", b"osxvers=23"])),
     {"source": "mdns", "family": "macOS", "device_class": "pc", "hostname": "Office-MacBook",
      "device_info_model": "MacBookPro18,3"}),
    ("mdns printer service", _mdns(
        DNSRR(rrname="_ipp._tcp.local", type="PTR", rdata="Brother HL._ipp._tcp.local"),
        DNSRR(rrname="BRW0080927AFBCE.local", type="A", rdata="192.0.2.80")),
     {"source": "mdns", "device_class": "printer", "hostname": "BRW0080927AFBCE",
      "services": ["_ipp._tcp"]}),
    ("llmnr query", IP(src="192.0.2.81", dst="224.0.0.252") / UDP(sport=50000, dport=5355)
     / DNS(id=7, qd=DNSQR(qname="fileserver")),
     {"source": "llmnr", "family": "Windows", "query": "fileserver"}),
    ("netbios registration", _nbns(b"DESKTOP-AB12CDE", 0x4341),
     {"source": "netbios", "family": "Windows", "device_class": "pc",
      "hostname": "DESKTOP-AB12CDE", "suffix": "0x20"}),
]


@pytest.mark.parametrize("name,pkt,want", GOLDEN, ids=[g[0] for g in GOLDEN])
def test_golden_packets(name: str, pkt: Any, want: dict[str, Any]) -> None:
    u = hp.udp_of_ipv4(raw(pkt))
    assert u is not None
    h = hp.hint_from_udp(u, MAC)
    assert h is not None, name
    got = {"source": h.source, "family": h.family, "device_class": h.device_class,
           "ip": h.ip, "hostname": h.hostname, **h.evidence}
    for k, v in want.items():
        assert got[k] == v, (name, k, got)


@pytest.mark.parametrize("data", [b"", b"\x45" + bytes(30), raw(_dhcp([("param_req_list",
                                                                       WIN_PRL)]))[:250],
                                  raw(_mdns(DNSRR(rrname="x.local", type="A",
                                                  rdata="192.0.2.1")))[:40]])
def test_truncated_or_odd_packets_give_no_hint(data: bytes) -> None:
    u = hp.udp_of_ipv4(data)
    assert u is None or hp.hint_from_udp(u, MAC) is None


def _ingest(tmp: Path, pcap: Path) -> list[dict[str, Any]]:
    db = tmp / "og.db"
    r = subprocess.run([OG, "ingest", str(pcap), "--db", str(db), "--json"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    rows = [dict(x) for x in conn.execute("SELECT * FROM passive_hints ORDER BY mac, source")]
    conn.close()
    return rows


def test_a_written_capture_lands_in_the_store_with_its_evidence(tmp_path: Path) -> None:
    frames = []
    for i, (_name, pkt, _want) in enumerate(GOLDEN):
        src = f"02:00:00:00:00:{i:02x}"
        frames.append(Ether(src=src, dst="ff:ff:ff:ff:ff:ff") / pkt)
    pcap = tmp_path / "hints.pcap"
    wrpcap(str(pcap), frames)
    rows = _ingest(tmp_path, pcap)
    by_mac = {r["mac"]: r for r in rows}
    # DHCP names the client by its chaddr (all golden DHCP packets use MAC); the others by the
    # Ethernet source
    assert by_mac[MAC]["source"] == "dhcp"
    mdns = by_mac["02:00:00:00:00:05"]
    assert (mdns["source"], mdns["family"], mdns["hostname"]) == ("mdns", "macOS",
                                                                  "Office-MacBook")
    assert json.loads(mdns["evidence"])["device_info_model"] == "MacBookPro18,3"
    nb = by_mac["02:00:00:00:00:08"]
    assert (nb["source"], nb["hostname"]) == ("netbios", "DESKTOP-AB12CDE")


@pytest.mark.root
def test_real_clients_in_a_namespace(tmp_path: Path) -> None:
    """busybox udhcpc asks for an address, Samba's nmbd registers its name; the sensor's
    capture of that traffic gives the hints."""
    ok, why = netns.available()
    if not ok:
        pytest.skip(why)
    busybox, nmbd = shutil.which("busybox"), shutil.which("nmbd")
    if not busybox or not nmbd:
        pytest.skip("needs busybox and nmbd (Debian packages busybox, samba)")
    d = Path(tempfile.mkdtemp(prefix="og-hints-"))
    tb = netns.Testbed()
    try:
        tb.bridge("lan")
        tb.link("sensor", "lan", "192.0.2.10/24")
        client = tb.link("client", "lan", "192.0.2.50/24")
        nas = tb.link("nas", "lan", "192.0.2.45/24")
        pcap = d / "lan.pcap"
        cap = tb.spawn("sensor", "tcpdump", "-i", "eth0", "-n", "-U", "-w", str(pcap),
                       hp.BPF_LAN, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while not pcap.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.5)  # tcpdump writes the header before the socket is live
        tb.exec("client", busybox, "udhcpc", "-i", "eth0", "-n", "-q", "-t", "2", "-T", "1",
                "-x", "hostname:officepi", "-s", "/bin/true", check=False)
        root = d / "samba"
        for sub in ("private", "lock", "state", "cache", "pid", "log"):
            (root / sub).mkdir(parents=True)
        conf = root / "smb.conf"
        conf.write_text(f"[global]\nworkgroup = OFFICE\nnetbios name = NAS-SAMBA\n"
                        f"interfaces = 192.0.2.45/24\nbind interfaces only = yes\n"
                        f"private dir = {root / 'private'}\nlock directory = {root / 'lock'}\n"
                        f"state directory = {root / 'state'}\n"
                        f"cache directory = {root / 'cache'}\npid directory = {root / 'pid'}\n"
                        f"log file = {root / 'log'}/log.%m\n")
        nm = tb.spawn("nas", nmbd, "--foreground", "--no-process-group", "-s", str(conf),
                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        want = {nas.mac, client.mac}
        rows: list[dict[str, Any]] = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            time.sleep(1)
            if pcap.stat().st_size > 24:
                rows = _ingest(d, pcap)
                if {r["mac"] for r in rows} >= want:
                    break
        nm.terminate()
        cap.terminate()
        cap.wait(5)
        by = {(r["mac"], r["source"]): r for r in rows}
        dh = by[(client.mac, "dhcp")]
        ev = json.loads(dh["evidence"])
        assert dh["hostname"] == "officepi" and ev["option60"].startswith("udhcp")
        assert dh["family"] == "Linux (embedded)" and ev["matched"] == "option60"
        nb = by[(nas.mac, "netbios")]
        assert nb["hostname"] == "NAS-SAMBA" and nb["ip"] == "192.0.2.45"
    finally:
        tb.close()
        shutil.rmtree(d, ignore_errors=True)
