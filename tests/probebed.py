"""The probe testbed: a small office in network namespaces, weak or hardened.

    guest 198.51.100.0/24 ── router ── business 192.0.2.0/24 (routed: the prober is not on it)
                               └────── dmz 203.0.113.0/24 (the prober's wired leg, the web site)

The scope is the two /24s and the web site: the guest /24 is on the prober's own segment
(discovered by ARP), the business /24 is one hop away (discovered by the liveness pass).

router    192.0.2.1   lighttpd admin page (old version string, basic auth, TP-LINK realm),
          198.51.100.1  OpenSSH, UPnP IGD mapping the printer's 9100 (weak only)
printer   192.0.2.20  IPP responder, raw 9100, snmpd (community public + write community)
camera    192.0.2.30  busybox telnetd with a device login, RTSP answering without credentials
                      and closing the connection after every answer (as embedded servers do)
nas       192.0.2.40  OpenSSH; an HTTP/1.0 admin page that closes after its answer (weak only)
prober    203.0.113.5 (eth0) and 198.51.100.10 (eth1, guest side); the code under test runs here
guests    198.51.100.21, .22 on the guest switch, port isolation off (weak) or on (hardened)
gprinter  198.51.100.30 a guest printer (IPP, raw 9100; current firmware), allowed on the guest
          side by probe.isolation_allow
www       203.0.113.10 HTTPS with an expired certificate (weak) or a valid one (hardened)

Hardened: current lighttpd behind HTTPS with a strong password, no UPnP, snmpd without public or
a write community, camera without Telnet and RTSP behind Digest credentials, NAS without its
plain-HTTP page, isolation on, firewall on.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.netns import Testbed

ROOT = Path(__file__).resolve().parent.parent
FAKE = [sys.executable, str(ROOT / "tests" / "tools" / "fakedevices.py")]
BIZ, GUEST, DMZ = "192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24"
ROUTER, PRINTER, CAMERA, NAS, WWW = "192.0.2.1", "192.0.2.20", "192.0.2.30", "192.0.2.40", \
    "203.0.113.10"
PROBER, PROBER_GUEST, DMZ_GW = "203.0.113.5", "198.51.100.10", "203.0.113.1"
GUESTS = ["198.51.100.21", "198.51.100.22"]
GPRINTER = "198.51.100.30"
SCOPE = [BIZ, GUEST, f"{WWW}/32"]
PORTS = [21, 22, 23, 80, 443, 554, 631, 5000, 8080, 9100]


def missing() -> str:
    for exe in ("lighttpd", "sshd", "snmpd", "busybox", "nft"):
        if not (shutil.which(exe) or Path(f"/usr/sbin/{exe}").exists()):
            return f"needs {exe} (make test installs it when run as root)"
    return ""


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_certs(d: Path, expired: bool) -> tuple[Path, Path, Path]:
    """A test CA and a leaf for www.facility.test; expired=True ends its life last month."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(_name("OfficeGuard Test CA"))
          .issuer_name(_name("OfficeGuard Test CA")).public_key(ca_key.public_key())
          .serial_number(1).not_valid_before(now - dt.timedelta(days=400))
          .not_valid_after(now + dt.timedelta(days=400))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    start, end = ((now - dt.timedelta(days=120), now - dt.timedelta(days=30)) if expired
                  else (now - dt.timedelta(days=1), now + dt.timedelta(days=90)))
    leaf = (x509.CertificateBuilder().subject_name(_name("www.facility.test"))
            .issuer_name(ca.subject).public_key(key.public_key()).serial_number(2)
            .not_valid_before(start).not_valid_after(end)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("www.facility.test")]),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    (d / "ca.pem").write_bytes(ca.public_bytes(pem))
    (d / "leaf.pem").write_bytes(leaf.public_bytes(pem))
    (d / "leaf.key").write_bytes(key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                                   serialization.NoEncryption()))
    both = d / "lighttpd.pem"
    both.write_bytes((d / "leaf.pem").read_bytes() + (d / "leaf.key").read_bytes())
    return d / "ca.pem", d / "leaf.pem", d / "leaf.key"


@dataclass
class Bed:
    tb: Testbed
    dir: Path
    hardened: bool
    prober_ns: str = ""
    ca: Path = Path()
    hosts_dir: Path = Path()
    ifaces: dict[str, str] = field(default_factory=dict)
    telnetd: subprocess.Popen[bytes] | None = None

    def config(self, extra: str = "") -> Path:
        p = self.dir / "officeguard.toml"
        p.write_text(f"""
[storage]
data_dir = "{self.dir / 'data'}"
[networks]
guest = ["{GUEST}"]
business = ["{BIZ}"]
gateways = ["{ROUTER}", "198.51.100.1"]
[probe]
scope = {json.dumps(SCOPE)}
websites = ["https://www.facility.test/"]
ca_file = "{self.ca}"
ports = {PORTS}
guest_interface = "eth1"
isolation_allow = ["{GPRINTER}"]
credentials = ["router", "camera", "printer"]
rate_per_s = 1000
host_rate_per_s = 200
connect_timeout_s = 1.0
{extra}
""")
        return p

    def run(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        return subprocess.run(["ip", "netns", "exec", self.prober_ns,
                               str(Path(sys.executable).with_name("officeguard")), *args],
                              capture_output=True, text=True, timeout=timeout, env=env)

    def close(self) -> None:
        shutil.rmtree(self.hosts_dir, ignore_errors=True)


def _wait(tb: Testbed, host: str, ip: str, port: int, udp: bool = False) -> None:
    deadline = time.monotonic() + 15
    flag = "-uln" if udp else "-tln"
    while time.monotonic() < deadline:
        out = tb.exec(host, "ss", flag, check=False).stdout
        if f"{ip}:{port} " in out or f"*:{port} " in out or f"0.0.0.0:{port} " in out:
            return
        time.sleep(0.1)
    raise RuntimeError(f"{host}: nothing listens on {ip}:{port}")


def build(tb: Testbed, d: Path, hardened: bool) -> Bed:
    bed = Bed(tb, d, hardened)
    for b in ("biz", "guest", "dmz"):
        tb.bridge(b)
    tb.router("router", [("guest", "198.51.100.1/24"), ("biz", f"{ROUTER}/24"),
                         ("dmz", "203.0.113.1/24")], firewall=hardened)
    if hardened:  # the admin interface answers on the business side only
        tb.exec("router", "nft", "add chain inet og inp { type filter hook input priority 0; "
                "policy accept; }; add rule inet og inp iifname eth0 ip daddr != 198.51.100.1 "
                "drop")
    tb.link("printer", "biz", f"{PRINTER}/24", gateway=ROUTER)
    tb.link("camera", "biz", f"{CAMERA}/24", gateway=ROUTER)
    tb.link("nas", "biz", f"{NAS}/24", gateway=ROUTER)
    tb.link("www", "dmz", f"{WWW}/24", gateway=DMZ_GW)
    for i, ip in enumerate(GUESTS):
        tb.link(f"guest{i}", "guest", f"{ip}/24", isolated=hardened, gateway="198.51.100.1")
    tb.link("gprinter", "guest", f"{GPRINTER}/24", gateway="198.51.100.1")
    # IPv4 only in the prober, so its capture holds the probe's packets and nothing the kernel
    # sends on its own (IPv6 neighbour discovery, MLD)
    tb.host("prober")
    for key in ("all", "default"):
        tb.exec("prober", "sysctl", "-qw", f"net.ipv6.conf.{key}.disable_ipv6=1")
    tb.link("prober", "dmz", f"{PROBER}/24", ifname="eth0")
    tb.link("prober", "guest", f"{PROBER_GUEST}/24", ifname="eth1", isolated=hardened,
            gateway="198.51.100.1")
    tb.exec("prober", "ip", "route", "add", BIZ, "via", DMZ_GW, "dev", "eth0")
    # the next hop is known statically, so every ARP request in the capture is the probe's own
    tb.exec("prober", "ip", "neigh", "replace", DMZ_GW, "lladdr", tb.hosts["router"].macs["eth2"],
            "dev", "eth0", "nud", "permanent")
    bed.prober_ns = tb.hosts["prober"].ns
    # name resolution inside the prober: `ip netns exec` mounts /etc/netns/NAME/hosts
    bed.hosts_dir = Path("/etc/netns") / bed.prober_ns
    bed.hosts_dir.mkdir(parents=True, exist_ok=True)
    (bed.hosts_dir / "hosts").write_text(f"127.0.0.1 localhost\n{WWW} www.facility.test\n")

    certs = d / "certs"
    certs.mkdir()
    bed.ca, leaf, key = make_certs(certs, expired=not hardened)
    _router(tb, d, hardened, certs)
    _printer(tb, d, hardened)
    bed.telnetd = _camera(tb, d, hardened)
    _nas(tb, d, hardened)
    tb.spawn("gprinter", *FAKE, "ipp", "--model", "Brother HL-L2350DW series", "--firmware",
             "1.72")
    tb.spawn("gprinter", *FAKE, "raw9100")
    tb.spawn("www", *FAKE, "website", "--cert", str(leaf), "--key", str(key),
             *(["--redirect"] if hardened else []))
    for host, ip, port in (("www", "0.0.0.0", 443), ("printer", "0.0.0.0", 631),
                           ("printer", "0.0.0.0", 9100), ("gprinter", "0.0.0.0", 631),
                           ("gprinter", "0.0.0.0", 9100)):
        _wait(tb, host, ip, port)
    _wait(tb, "printer", PRINTER, 161, udp=True)
    return bed


def _router(tb: Testbed, d: Path, hardened: bool, certs: Path) -> None:
    www = d / "router-www"
    www.mkdir()
    (www / "index.html").write_text("<html><head><title>TL-WR841N Router Admin</title></head>"
                                    "<body>Login</body></html>")
    users = d / "router-users"
    users.write_text("admin:" + ("Xk4-router-9q" if hardened else "admin") + "\n")
    conf = d / "lighttpd.conf"
    tls = f"""
server.modules += ("mod_openssl")
$SERVER["socket"] == "{ROUTER}:443" {{
  ssl.engine = "enable"
  ssl.pemfile = "{certs / 'lighttpd.pem'}"
}}
$HTTP["scheme"] == "http" {{
  url.redirect = ("" => "https://${{url.authority}}${{url.path}}${{qsa}}")
}}
""" if hardened else ""
    conf.write_text(f"""
server.document-root = "{www}"
server.bind = "{ROUTER}"
server.port = 80
server.errorlog = "{d / 'lighttpd.err'}"
index-file.names = ("index.html")
server.modules = ({'"mod_redirect", ' if hardened else ''}"mod_auth", "mod_authn_file")
{'' if hardened else 'server.tag = "lighttpd/1.4.35"'}
auth.backend = "plain"
auth.backend.plain.userfile = "{users}"
auth.require = ("/" => ("method" => "basic", "realm" => "TP-LINK Wireless N Router WR841N",
                        "require" => "valid-user"))
{tls}
""")
    with (d / "lighttpd.out").open("wb") as log:
        tb.spawn("router", shutil.which("lighttpd") or "/usr/sbin/lighttpd", "-D", "-f",
                 str(conf), stdout=subprocess.DEVNULL, stderr=log)
    _sshd(tb, d, "router", ROUTER)
    if not hardened:
        tb.spawn("router", *FAKE, "igd", "--ip", ROUTER, "--map", f"{PRINTER}:9100")
        _wait(tb, "router", "0.0.0.0", 5000)
    _wait(tb, "router", ROUTER, 80)
    _wait(tb, "router", ROUTER, 22)


def _sshd(tb: Testbed, d: Path, host: str, ip: str) -> None:
    key = d / f"ssh_host_ed25519_key_{host}"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    sshd_conf = d / f"sshd_config_{host}"
    sshd_conf.write_text(f"Port 22\nListenAddress {ip}\nHostKey {key}\nPidFile none\n"
                         "UsePAM no\nPasswordAuthentication yes\n")
    Path("/run/sshd").mkdir(exist_ok=True)
    tb.spawn(host, "/usr/sbin/sshd", "-D", "-e", "-f", str(sshd_conf),
             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _nas(tb: Testbed, d: Path, hardened: bool) -> None:
    _sshd(tb, d, "nas", NAS)
    if not hardened:
        tb.spawn("nas", *FAKE, "http10", "--server", "Boa/0.94.14rc21", "--title",
                 "NAS Admin Login")
        _wait(tb, "nas", "0.0.0.0", 80)
    _wait(tb, "nas", NAS, 22)


def _printer(tb: Testbed, d: Path, hardened: bool) -> None:
    fw = "1.72" if hardened else "1.05"
    tb.spawn("printer", *FAKE, "ipp", "--model", "Brother HL-L2350DW series", "--firmware", fw)
    tb.spawn("printer", *FAKE, "raw9100")
    conf = d / "snmpd.conf"
    community = "Zq-7-private-ro" if hardened else "public"
    conf.write_text("master no\n"
                    f"rocommunity {community}\n"
                    + ("" if hardened else "rwcommunity internal\n")
                    + f"sysDescr Brother NC-8300w, Firmware Ver.{fw}\n"
                    + ("sysLocation 2F copy room\nsysContact facility@example.invalid\n"
                       if hardened else "")  # variables set here are read-only in snmpd
                    + "sysServices 72\n")
    tb.spawn("printer", "/usr/sbin/snmpd", "-f", "-Lo", "-C", "-c", str(conf),
             "-p", str(d / "snmpd.pid"), f"udp:{PRINTER}:161",
             env={**os.environ, "MIBS": "", "MIBDIRS": str(d)},
             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _camera(tb: Testbed, d: Path, hardened: bool) -> subprocess.Popen[bytes] | None:
    """The camera's services; returns its telnetd (weak only), for a test to stop by its id."""
    tb.spawn("camera", *FAKE, "rtsp", "--server", "Dahua Rtsp Server/2.0", "--close",
             *(["--auth"] if hardened else []))
    _wait(tb, "camera", "0.0.0.0", 554)
    if hardened:
        return None
    login = d / "camera-login"
    login.write_text(f"#!/bin/sh\nexec {sys.executable} {FAKE[1]} login --user root "
                     "--password vizxv\n")
    login.chmod(0o755)
    busybox = shutil.which("busybox") or "/bin/busybox"
    telnetd = tb.spawn("camera", busybox, "telnetd", "-F", "-p", "23", "-b", CAMERA, "-l",
                       str(login))
    _wait(tb, "camera", CAMERA, 23)
    return telnetd


# -- the same work by nmap ------------------------------------------------------------------
def nmap_command(scope: list[str] = SCOPE, ports: list[int] = PORTS) -> list[str]:
    """nmap over the cycle's scope and ports, with nmap's default discovery (ARP on the guest
    /24, ICMP echo/timestamp + TCP 443/80 elsewhere) as the cycle discovers first too; the
    prober's own addresses are left out, as the cycle leaves them out."""
    return ["nmap", "-n", "-sT", "-sV", "-T4", "-p", ",".join(map(str, ports)),
            "--exclude", f"{PROBER},{PROBER_GUEST}", "-oX", "-", *scope]


def parse_nmap(xml: str) -> dict[str, dict[int, tuple[str, str]]]:
    """ip -> {open tcp port: (product, version)} for every host nmap found up."""
    import xml.etree.ElementTree as ET

    out: dict[str, dict[int, tuple[str, str]]] = {}
    for host in ET.fromstring(xml).iter("host"):
        status = host.find("status")
        if status is not None and status.get("state") != "up":
            continue
        addr = host.find("address[@addrtype='ipv4']")
        if addr is None:
            continue
        ports = {}
        for p in host.iter("port"):
            st = p.find("state")
            if st is not None and st.get("state") == "open":
                svc = p.find("service")
                ports[int(p.get("portid", 0))] = (
                    (svc.get("product") or "") if svc is not None else "",
                    (svc.get("version") or "") if svc is not None else "")
        out[str(addr.get("addr"))] = ports
    return out


def _norm(s: str) -> str:
    return " ".join(s.replace("/", " ").lower().split())


def disagreements(doc: dict[str, Any], ref: dict[str, dict[int, tuple[str, str]]],
                  not_examined: tuple[str, ...] = ()) -> list[str]:
    """Where the cycle and nmap differ: live hosts, open TCP ports, and, wherever nmap names a
    product with a version, the product and version. Empty when they agree. NOT_EXAMINED are
    guests' own devices, which the cycle finds but never examines (nmap scans them)."""
    ours = {h["ip"]: {p["port"]: p for p in h["ports"] if p["proto"] == "tcp"}
            for h in doc["hosts"]}
    out = []
    for ip in sorted((set(ours) | set(ref)) - set(not_examined)):
        if ip not in ours or ip not in ref:
            out.append(f"{ip}: up for {'nmap' if ip in ref else 'the cycle'} only")
            continue
        if set(ours[ip]) != set(ref[ip]):
            out.append(f"{ip}: open ports {sorted(ours[ip])} vs nmap {sorted(ref[ip])}")
            continue
        for port, (product, version) in ref[ip].items():
            mine = ours[ip][port]
            if product and not (_norm(mine["product"]).startswith(_norm(product))
                                or (mine["product"]
                                    and _norm(product).startswith(_norm(mine["product"])))):
                out.append(f"{ip}:{port}: product {mine['product']!r} vs nmap {product!r}")
            elif product and version and (_norm(mine["version"]).split()[:1]
                                          != _norm(version).split()[:1]):
                out.append(f"{ip}:{port}: version {mine['version']!r} vs nmap {version!r}")
    return out
