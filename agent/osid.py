"""Operating system and release from what a device already says, without an agent. Pure.

Sources, strongest first: the NTLMSSP CHALLENGE's version structure from SMB2 (445) or RDP with
NLA (3389) — Windows says 10.0 for both 10 and 11, only the build tells them apart; SSH banners
(`OpenSSH_9.2p1 Debian-2+deb12u3` → Debian 12); HTTP `Server` headers. Each identification names
its source and the exact evidence, and the catalog key (`product`, `cycle`) its verdict uses.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

# Windows client builds (the feature release each build number belongs to)
WINDOWS_CLIENT: dict[int, tuple[str, str]] = {
    10240: ("10-1507", "Windows 10 1507"), 10586: ("10-1511", "Windows 10 1511"),
    14393: ("10-1607", "Windows 10 1607"), 15063: ("10-1703", "Windows 10 1703"),
    16299: ("10-1709", "Windows 10 1709"), 17134: ("10-1803", "Windows 10 1803"),
    17763: ("10-1809", "Windows 10 1809"), 18362: ("10-1903", "Windows 10 1903"),
    18363: ("10-1909", "Windows 10 1909"), 19041: ("10-2004", "Windows 10 2004"),
    19042: ("10-20h2", "Windows 10 20H2"), 19043: ("10-21h1", "Windows 10 21H1"),
    19044: ("10-21h2", "Windows 10 21H2"), 19045: ("10-22h2", "Windows 10 22H2"),
    22000: ("11-21h2", "Windows 11 21H2"), 22621: ("11-22h2", "Windows 11 22H2"),
    22631: ("11-23h2", "Windows 11 23H2"), 26100: ("11-24h2", "Windows 11 24H2"),
    26200: ("11-25h2", "Windows 11 25H2"), 28000: ("11-26h1", "Windows 11 26H1"),
}
WINDOWS_SERVER: dict[int, tuple[str, str]] = {
    3790: ("2003-sp2", "Windows Server 2003"), 6002: ("2008-sp2", "Windows Server 2008 SP2"),
    6003: ("2008-sp2", "Windows Server 2008 SP2"), 7601: ("2008-r2-sp1", "Windows Server 2008 R2"),
    9200: ("2012", "Windows Server 2012"), 9600: ("2012-r2", "Windows Server 2012 R2"),
    14393: ("2016", "Windows Server 2016"), 17763: ("2019", "Windows Server 2019"),
    20348: ("2022", "Windows Server 2022"), 25398: ("23h2-ac", "Windows Server 23H2"),
    26100: ("2025", "Windows Server 2025"),
}
# pre-10 client versions by NTLM major.minor (the build is the service pack's)
WINDOWS_OLD: dict[tuple[int, int], tuple[str, str]] = {
    (5, 1): ("5-sp3", "Windows XP"), (6, 0): ("6-sp2", "Windows Vista"),
    (6, 1): ("7-sp1", "Windows 7"), (6, 2): ("8", "Windows 8"), (6, 3): ("8.1", "Windows 8.1"),
}
# upstream OpenSSH version → distribution release that shipped it
_DEBIAN_SSH = {"7.4p1": "9", "7.9p1": "10", "8.4p1": "11", "9.2p1": "12", "10.0p1": "13"}
_UBUNTU_SSH = {"7.2p2": "16.04", "7.6p1": "18.04", "8.2p1": "20.04", "8.9p1": "22.04",
               "9.0p1": "23.04", "9.3p1": "23.10", "9.6p1": "24.04", "9.7p1": "24.10",
               "9.9p1": "25.04", "10.0p1": "25.10"}
_SSH = re.compile(r"SSH-[\d.]+-OpenSSH_(?P<ver>[\w.]+)(?:\s+(?P<dist>Debian|Ubuntu|Raspbian)"
                  r"-(?P<pkg>\S+))?")
_HTTP_OS = [(re.compile(r"\(Debian\)"), "Debian"), (re.compile(r"\(Ubuntu\)"), "Ubuntu"),
            (re.compile(r"\(Raspbian\)"), "Raspberry Pi OS"),
            (re.compile(r"\((?:Red Hat|Red Hat Enterprise Linux)\)"), "RHEL"),
            (re.compile(r"\(CentOS\)"), "CentOS"), (re.compile(r"\(Rocky Linux\)"), "Rocky Linux"),
            (re.compile(r"\(AlmaLinux\)"), "AlmaLinux"), (re.compile(r"\(Win(?:32|64)\)"),
                                                          "Windows"),
            (re.compile(r"^Microsoft-IIS/"), "Windows")]


@dataclass
class OsId:
    family: str = ""  # Windows | Samba | Linux | macOS | ""
    name: str = ""  # "Windows 11 23H2", "Debian 12"
    version: str = ""  # "10.0.22631"
    candidates: list[tuple[str, str, str]] = field(default_factory=list)  # (product, cycle, name)
    source: str = ""  # "smb ntlmssp", "rdp ntlmssp", "ssh banner", "http server"
    evidence: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"family": self.family, "name": self.name, "version": self.version,
                "candidates": [list(c) for c in self.candidates], "source": self.source,
                "evidence": self.evidence}


def from_ntlm(ntlm: dict[str, Any], source: str, client: bool | None = None) -> OsId:
    """NTLMSSP CHALLENGE (agent.probe.smb.parse_challenge) → Windows release or Samba.

    client=True: a registered rental PC (a client edition); None: unknown, so a build that is
    both a client and a server release names both."""
    v = ntlm.get("version") or {}
    info = ntlm.get("target_info") or {}
    ev = {"version": v, "target_info": info}
    if not v:
        return OsId(source=source, evidence=ev)
    major, minor, build = int(v["major"]), int(v["minor"]), int(v["build"])
    ver = f"{major}.{minor}.{build}"
    if build == 0:
        # Samba's NTLMSSP server always says 6.1 build 0; Windows never sends build 0
        return OsId("Samba", "Samba (Linux/Unix SMB server)", ver, [], source, ev)
    cands: list[tuple[str, str, str]] = []
    if (major, minor) == (10, 0):
        if client is not False and build in WINDOWS_CLIENT:
            cycle, name = WINDOWS_CLIENT[build]
            cands.append(("windows", cycle, name))
        if client is not True and build in WINDOWS_SERVER:
            cycle, name = WINDOWS_SERVER[build]
            cands.append(("windows-server", cycle, name))
    elif (major, minor) in WINDOWS_OLD:
        cycle, name = WINDOWS_OLD[(major, minor)]
        if client is not False:
            cands.append(("windows", cycle, name))
        if client is not True and build in WINDOWS_SERVER:
            cycle, name = WINDOWS_SERVER[build]
            cands.append(("windows-server", cycle, name))
    name = " or ".join(c[2] for c in cands) or f"Windows (NT {major}.{minor}, build {build})"
    return OsId("Windows", f"{name} (build {build})", ver, cands, source, ev)


def from_ssh(banner: str) -> OsId | None:
    m = _SSH.search(banner)
    if not m or not m["dist"]:
        return None
    ver, dist, pkg = m["ver"], m["dist"], m["pkg"]
    ev = {"banner": banner.strip()[:200]}
    if dist in ("Debian", "Raspbian"):
        d = re.search(r"deb(\d+)u", pkg)
        rel = d[1] if d else _DEBIAN_SSH.get(ver, "")
        label = "Debian" if dist == "Debian" else "Raspberry Pi OS (Debian"
        if not rel:
            return OsId("Linux", "Debian" if dist == "Debian" else "Raspberry Pi OS", "", [],
                        "ssh banner", ev)
        name = f"Debian {rel}" if dist == "Debian" else f"{label} {rel})"
        return OsId("Linux", name, rel, [("debian", rel, name)], "ssh banner", ev)
    rel = _UBUNTU_SSH.get(ver, "")
    if not rel:
        return OsId("Linux", "Ubuntu", "", [], "ssh banner", ev)
    return OsId("Linux", f"Ubuntu {rel}", rel, [("ubuntu", rel, f"Ubuntu {rel}")], "ssh banner",
                ev)


def from_http_server(server: str) -> OsId | None:
    for rx, name in _HTTP_OS:
        if rx.search(server):
            return OsId("Windows" if name == "Windows" else "Linux", name, "", [], "http server",
                        {"server": server.strip()[:200]})
    return None


# SNMP sysDescr of router/firewall firmware lines the catalog knows (product, cycle digits)
_SNMP_FIRMWARE = [
    (re.compile(r"RouterOS (?:RB\S+ )?v?(\d+)\.(\d+)"), "routeros", "MikroTik RouterOS"),
    (re.compile(r"OpenWrt (\d+)\.(\d+)"), "openwrt", "OpenWrt"),
    (re.compile(r"FortiOS v?(\d+)\.(\d+)"), "fortios", "FortiOS"),
]


def from_snmp(sys_descr: str) -> OsId | None:
    for rx, product, label in _SNMP_FIRMWARE:
        m = rx.search(sys_descr)
        if m:
            cycle = f"{m[1]}.{m[2]}"
            name = f"{label} {cycle}"
            return OsId("Network OS", name, cycle, [(product, cycle, name)], "snmp sysdescr",
                        {"sysDescr": sys_descr.strip()[:200]})
    return None


def identify(host: dict[str, Any], client: bool | None = None) -> OsId | None:
    """The strongest identification among a probed host's answers (None: nothing said)."""
    weak: OsId | None = None
    for key, source in (("smb", "smb ntlmssp"), ("rdp", "rdp ntlmssp")):
        ntlm = (host.get(key) or {}).get("ntlm")
        if ntlm and ntlm.get("version"):
            found = from_ntlm(ntlm, source, client)
            found.evidence["port"] = (host.get(key) or {}).get("port")
            return found
    snmp = from_snmp(str((host.get("snmp") or {}).get("sysDescr", "")))
    if snmp:
        snmp.evidence["port"] = 161
        return snmp
    for p in host.get("ports", []):
        if p.get("service") == "ssh":
            banner = str(p.get("banner", ""))
            if not banner.startswith("SSH-"):  # product/version as fingerprint.ssh wrote them
                parts = str(p.get("version", "")).split()
                banner = "SSH-2.0-OpenSSH_" + (f"{parts[0]} {parts[1]}-{parts[2]}"
                                               if len(parts) == 3 else " ".join(parts))
            ssh = from_ssh(banner)
            if ssh and ssh.candidates:
                ssh.evidence["port"] = p["port"]
                return ssh
            weak = weak or ssh
    for p in host.get("ports", []):
        server = (p.get("http") or {}).get("server", "")
        if server:
            web = from_http_server(server)
            if web:
                web.evidence["port"] = p["port"]
                weak = weak or web
    return weak
