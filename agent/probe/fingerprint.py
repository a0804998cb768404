"""Banners and answers → service, product, version; evidence → a device record. Pure."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from typing import Any

_SSH = re.compile(r"^SSH-(?P<proto>[\d.]+)-(?P<soft>\S+)(?:\s+(?P<comment>.*))?$")
_HTTP_PRODUCTS = {
    "apache": "Apache httpd", "microsoft-iis": "Microsoft IIS httpd", "basehttp": "BaseHTTPServer",
    "mini_httpd": "mini_httpd", "boa": "Boa HTTPd", "goahead-webs": "GoAhead WebServer",
    "cups": "CUPS", "rompager": "Allegro RomPager", "simplehttp": "SimpleHTTPServer",
}
_FTP = [
    (re.compile(r"\(vsFTPd ([\w.]+)\)"), "vsftpd"),
    (re.compile(r"ProFTPD ([\w.]+)"), "ProFTPD"),
    (re.compile(r"Pure-FTPd"), "Pure-FTPd"),
    (re.compile(r"FileZilla Server(?: version)? ([\w.]+)"), "FileZilla ftpd"),
]
_TITLE = re.compile(rb"<title[^>]*>(.*?)</title>", re.I | re.S)


@dataclass(frozen=True, slots=True)
class Ident:
    service: str
    product: str = ""
    version: str = ""
    extra: str = ""


def ssh(banner: str) -> Ident:
    m = _SSH.match(banner.strip())
    if not m:
        return Ident("ssh")
    soft, comment = m["soft"], m["comment"] or ""
    extra = f"protocol {m['proto']}"
    if soft.startswith("OpenSSH_"):
        version = soft.removeprefix("OpenSSH_")
        d = re.match(r"(Debian|Ubuntu|Raspbian)-(\S+)", comment)
        if d:
            version += f" {d[1]} {d[2]}"
        return Ident("ssh", "OpenSSH", version, extra)
    if soft.startswith("dropbear"):
        return Ident("ssh", "Dropbear sshd", soft.partition("_")[2], extra)
    name, _, ver = soft.partition("_")
    return Ident("ssh", name, ver, extra)


_SERVER = re.compile(r"^([^/()]+?)/([\w.+~-]+)")


def http_server(server: str) -> tuple[str, str]:
    """`Server:` header → (product, version), in nmap's words where it has one."""
    server = server.strip()
    if not server:
        return "", ""
    m = _SERVER.match(server)
    name, ver = (m.group(1).strip(), m.group(2)) if m else (server.split()[0], "")
    product = _HTTP_PRODUCTS.get(name.lower(), name)
    if name.lower() in ("basehttp", "simplehttp"):
        py = re.search(r"Python/([\w.]+)", server)
        return product, ver + (f" (Python {py[1]})" if py else "")
    return product, ver


def ftp(banner: str) -> Ident:
    for rx, product in _FTP:
        m = rx.search(banner)
        if m:
            return Ident("ftp", product, m.group(1) if m.groups() else "")
    return Ident("ftp")


# BusyBox telnetd (1.14 and later) opens with exactly this negotiation (nmap's match too)
_BUSYBOX_IAC = b"\xff\xfd\x01\xff\xfd\x1f\xff\xfb\x01\xff\xfb\x03"


_SMTP = [
    (re.compile(r"ESMTP Postfix"), "Postfix smtpd", None),
    (re.compile(r"Exim ([\d.]+)"), "Exim smtpd", 1),
    (re.compile(r"OpenSMTPD"), "OpenSMTPD", None),
    (re.compile(r"Sendmail ([\w.]+)"), "Sendmail", 1),
]


def smtp(banner: str) -> Ident:
    for rx, product, group in _SMTP:
        m = rx.search(banner)
        if m:
            return Ident("smtp", product, m.group(group) if group else "")
    return Ident("smtp")


def dns_version(txt: str) -> Ident:
    """The answer to a CHAOS TXT version.bind query, in nmap's words."""
    txt = txt.strip()
    if txt.lower().startswith("dnsmasq-"):
        return Ident("domain", "dnsmasq", txt.split("-", 1)[1])
    if re.match(r"^\d+\.\d+", txt):
        return Ident("domain", "ISC BIND", txt.removesuffix("-Debian").removesuffix("-Ubuntu"))
    return Ident("domain")


def telnet(text: str, raw: bytes = b"") -> Ident:
    if raw.startswith(_BUSYBOX_IAC):
        return Ident("telnet", "BusyBox telnetd", "1.14.0 or later")
    if "BusyBox" in text:
        return Ident("telnet", "BusyBox telnetd")
    return Ident("telnet")


def html_title(body: bytes) -> str:
    m = _TITLE.search(body[:65536])
    if not m:
        return ""
    raw = m.group(1).decode("utf-8", "replace")
    return " ".join(html.unescape(raw).split())[:200]


def realm(www_authenticate: str) -> str:
    m = re.search(r'realm="([^"]*)"', www_authenticate)
    return m.group(1)[:200] if m else ""


_ADMIN_WORDS = re.compile(
    r"admin|login|router|setup|config|management|管理|ログイン|設定|web ?ui|dashboard", re.I)


def looks_like_admin(title: str, realm_: str, body: bytes) -> bool:
    if realm_ or _ADMIN_WORDS.search(title):
        return True
    return b'type="password"' in body[:65536].lower() or b"type=password" in body[:65536].lower()


# -- device records -------------------------------------------------------------------------
@dataclass
class Device:
    vendor: str = ""
    model: str = ""
    firmware: str = ""
    kind: str = "other"  # router | ap | printer | camera | nas | pc | other
    evidence: dict[str, str] = field(default_factory=dict)  # field -> where it came from

    def set(self, key: str, value: str, source: str) -> None:
        value = " ".join(str(value).split())[:200]
        if value and not getattr(self, key):
            setattr(self, key, value)
            self.evidence[key] = source

    def as_dict(self) -> dict[str, Any]:
        return {"vendor": self.vendor, "model": self.model, "firmware": self.firmware,
                "class": self.kind, "evidence": dict(self.evidence)}


_FW_IN_TEXT = re.compile(
    r"(?:firmware|fw|version|ver\.?|rev\.?)\s*[:=]?\s*v?(\d+(?:\.\d+)+[\w.-]*)", re.I)


def build_device(facts: dict[str, Any], oui_vendor: str = "", gateway: bool = False) -> Device:
    """Merge what the probes learned about one host, strongest source first."""
    d = Device()
    ipp = facts.get("ipp") or {}
    mm = _first(ipp.get("printer-make-and-model"))
    if mm:
        d.set("vendor", mm.split()[0], "ipp printer-make-and-model")
        d.set("model", mm, "ipp printer-make-and-model")
    for key in ("printer-firmware-string-version", "printer-firmware-version"):
        fw = _first(ipp.get(key))
        if fw and isinstance(fw, str):
            d.set("firmware", fw, f"ipp {key}")
    upnp = facts.get("upnp") or {}
    d.set("vendor", upnp.get("manufacturer", ""), "upnp manufacturer")
    model = " ".join(x for x in (upnp.get("modelName", ""), upnp.get("modelNumber", "")) if x)
    d.set("model", model, "upnp modelName/modelNumber")
    d.set("firmware", upnp.get("firmware", ""), "upnp firmware")
    mdns = facts.get("mdns") or {}
    if mdns.get("ty"):
        d.set("vendor", mdns["ty"].split()[0], "mdns ty")
        d.set("model", mdns["ty"], "mdns ty")
    snmp = facts.get("snmp") or {}
    descr = snmp.get("sysDescr", "")
    if descr:
        if snmp.get("hrDeviceDescr"):
            d.set("model", snmp["hrDeviceDescr"], "snmp hrDeviceDescr")
        found = _FW_IN_TEXT.search(descr)
        if found:
            d.set("firmware", found.group(1), "snmp sysDescr")
    d.set("vendor", oui_vendor, "oui")
    d.kind = device_class(facts, gateway)
    return d


def _first(v: Any) -> str:
    if isinstance(v, list):
        return str(v[0]) if v and isinstance(v[0], str) else ""
    return str(v or "")


def device_class(facts: dict[str, Any], gateway: bool) -> str:
    ports = {p["port"] for p in facts.get("ports", []) if p["state"] == "open"}
    upnp_type = (facts.get("upnp") or {}).get("deviceType", "")
    descr = ((facts.get("snmp") or {}).get("sysDescr", "") + " " +
             _first((facts.get("ipp") or {}).get("printer-make-and-model"))).lower()
    if gateway or "InternetGatewayDevice" in upnp_type:
        return "router"
    if facts.get("ipp") or ports & {9100, 515, 631} or "printer" in descr:
        return "printer"
    if facts.get("rtsp") or ports & {554, 8554} or "camera" in descr:
        return "camera"
    if "access point" in descr or "WLANAccessPoint" in upnp_type:
        return "ap"
    if ports & {5000, 5001} and 445 in ports:
        return "nas"
    if ports & {3389, 5357}:
        return "pc"
    return "other"
