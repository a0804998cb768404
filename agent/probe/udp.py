"""UDP probes that answer back: SNMP (sysDescr with `public`), SSDP → UPnP device description
and IGD port mappings, and unicast mDNS service discovery."""

from __future__ import annotations

import re
import secrets
import struct
from typing import Any
from urllib.parse import urljoin, urlsplit
from xml.etree import ElementTree as ET  # noqa: N817

from agent.probe import snmp
from agent.probe.dnsname import read_name as _name
from agent.probe.gate import Gate
from agent.probe.services import ERRORS, http_get


async def snmp_get(ctx: Gate, ip: str, community: str, oids: list[str]) -> snmp.Response | None:
    rid = secrets.randbelow(2**31 - 1)
    data = await ctx.udp(ip, 161, snmp.request(community, oids, rid))
    if not data:
        return None
    try:
        resp = snmp.parse_response(data)
    except snmp.SnmpError:
        return None
    return resp if resp.request_id == rid else None


async def snmp_info(ctx: Gate, ip: str, community: str = "public") -> dict[str, Any] | None:
    resp = await snmp_get(ctx, ip, community, [snmp.SYS_DESCR, snmp.SYS_OBJECT_ID, snmp.SYS_NAME])
    if resp is None or resp.error_status:
        return None
    v = resp.values
    out = {"community": community, "sysDescr": str(v.get(snmp.SYS_DESCR) or "")[:300],
           "sysObjectID": str(v.get(snmp.SYS_OBJECT_ID) or ""),
           "sysName": str(v.get(snmp.SYS_NAME) or "")[:100]}
    hr = await snmp_get(ctx, ip, community, [snmp.PRINTER_MODEL])
    if hr and not hr.error_status and isinstance(hr.values.get(snmp.PRINTER_MODEL), str):
        out["hrDeviceDescr"] = str(hr.values[snmp.PRINTER_MODEL])[:200]
    return out


async def snmp_writable(ctx: Gate, ip: str, community: str) -> bool:
    """Can COMMUNITY write? Sets a system variable to the value it already has (no change);
    variables fixed in the agent's configuration refuse, so the next one is tried."""
    for oid in (snmp.SYS_LOCATION, snmp.SYS_CONTACT, snmp.SYS_NAME):
        cur = await snmp_get(ctx, ip, community, [oid])
        if cur is None:
            return False  # the community does not even read: wrong community
        value = cur.values.get(oid)
        if cur.error_status or not isinstance(value, str):
            continue
        rid = secrets.randbelow(2**31 - 1)
        data = await ctx.udp(ip, 161, snmp.request(community, [oid], rid, pdu=snmp.SET,
                                                    values=[value]))
        if not data:
            continue
        try:
            resp = snmp.parse_response(data)
        except snmp.SnmpError:
            continue
        if resp.request_id == rid and resp.error_status == 0:
            return True
    return False


SSDP = (b"M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: \"ssdp:discover\"\r\n"
        b"MX: 1\r\nST: ssdp:all\r\n\r\n")


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def parse_description(xml: bytes) -> dict[str, Any]:
    if b"<!DOCTYPE" in xml[:2048].upper():
        raise ValueError("DOCTYPE in a UPnP description")
    root = ET.fromstring(xml)  # noqa: S314
    out: dict[str, Any] = {"services": []}
    dev = next((e for e in root.iter() if _local(e.tag) == "device"), None)
    if dev is None:
        return out
    for child in dev:
        name = _local(child.tag)
        if name in ("manufacturer", "modelName", "modelNumber", "friendlyName", "deviceType",
                    "serialNumber", "modelDescription") and child.text:
            out[name] = child.text.strip()[:200]
    for e in root.iter():
        if _local(e.tag) == "service":
            fields = {_local(c.tag): (c.text or "").strip() for c in e}
            out["services"].append({k: fields.get(k, "") for k in ("serviceType", "controlURL")})
        if _local(e.tag) == "deviceType" and e.text and "InternetGatewayDevice" in e.text:
            out["deviceType"] = e.text.strip()
    fw = next((e.text for e in root.iter() if _local(e.tag).lower() in (
        "firmwareversion", "softwareversion") and e.text), "")
    if fw:
        out["firmware"] = fw.strip()[:100]
    return out


async def upnp_info(ctx: Gate, ip: str) -> dict[str, Any] | None:
    data = await ctx.udp(ip, 1900, SSDP)
    if not data:
        return None
    m = re.search(rb"(?im)^location:\s*(\S+)", data)
    if not m:
        return {"location": ""}
    location = m.group(1).decode("iso-8859-1")
    u = urlsplit(location)
    if u.hostname != ip or u.scheme != "http":  # never follow a description elsewhere
        return {"location": location[:300], "error": "description outside this host"}
    try:
        res = await http_get(ctx, ip, u.port or 80, False, path=u.path or "/")
        desc = parse_description(res["body"])
    except (*ERRORS, ET.ParseError) as exc:
        return {"location": location[:300], "error": f"{type(exc).__name__}"}
    desc["location"] = location[:300]
    return desc


SOAP = ('<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" '
        's:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body>'
        '<u:GetGenericPortMappingEntry xmlns:u="{st}"><NewPortMappingIndex>{i}'
        '</NewPortMappingIndex></u:GetGenericPortMappingEntry></s:Body></s:Envelope>')


async def igd_mappings(ctx: Gate, ip: str, desc: dict[str, Any], limit: int = 64
                       ) -> list[dict[str, str]]:
    """Port mappings of an Internet Gateway Device, read with GetGenericPortMappingEntry."""
    svc = next((s for s in desc.get("services", []) if re.search(
        r"WAN(IP|PPP)Connection", s.get("serviceType", ""))), None)
    if svc is None or not desc.get("location"):
        return []
    ctl = urlsplit(urljoin(desc["location"], svc["controlURL"]))
    if ctl.hostname != ip:
        return []
    out = []
    for i in range(limit):
        body = SOAP.format(st=svc["serviceType"], i=i).encode()
        try:
            res = await http_get(ctx, ip, ctl.port or 80, False, path=ctl.path or "/",
                                 method="POST", body=body, extra=(
                                     'Content-Type: text/xml; charset="utf-8"\r\n'
                                     f'SOAPAction: "{svc["serviceType"]}#'
                                     'GetGenericPortMappingEntry"\r\n'))
        except ERRORS:
            break
        if res["status"] != 200:
            break
        try:
            root = ET.fromstring(res["body"])  # noqa: S314
        except ET.ParseError:
            break
        f = {_local(e.tag): (e.text or "").strip() for e in root.iter()}
        out.append({k: f.get(k, "")[:100] for k in (
            "NewExternalPort", "NewProtocol", "NewInternalPort", "NewInternalClient",
            "NewPortMappingDescription", "NewEnabled")})
    return out


# -- mDNS (unicast query to port 5353; RFC 6762 §5.5 answers unicast to a non-5353 port) ----
def _qname(name: str) -> bytes:
    return b"".join(bytes([len(p)]) + p.encode() for p in name.rstrip(".").split(".")) + b"\0"


def mdns_query(names: list[str], qtype: int = 12) -> bytes:
    return struct.pack(">HHHHHH", 0, 0, len(names), 0, 0, 0) + b"".join(
        _qname(n) + struct.pack(">HH", qtype, 1) for n in names)


def parse_mdns(buf: bytes) -> dict[str, Any]:
    """Answers and additional records → {'ptr': [...], 'txt': {key: value}}."""
    if len(buf) < 12:
        raise ValueError("short DNS message")
    _id, _flags, qd, an, ns, ar = struct.unpack(">HHHHHH", buf[:12])
    i = 12
    for _ in range(qd):
        _, i = _name(buf, i)
        i += 4
    ptr: list[str] = []
    txt: dict[str, str] = {}
    for _ in range(an + ns + ar):
        _, i = _name(buf, i)
        if i + 10 > len(buf):
            raise ValueError("truncated record")
        rtype, _cls, _ttl, rdlen = struct.unpack(">HHIH", buf[i:i + 10])
        i += 10
        rdata = buf[i:i + rdlen]
        if rtype == 12:
            ptr.append(_name(buf, i)[0])
        elif rtype == 16:
            j = 0
            while j < len(rdata):
                n = rdata[j]
                kv = rdata[j + 1:j + 1 + n].decode("utf-8", "replace")
                k, _, v = kv.partition("=")
                txt.setdefault(k.lower(), v[:200])
                j += 1 + n
        i += rdlen
    return {"ptr": ptr, "txt": txt}


async def mdns_info(ctx: Gate, ip: str) -> dict[str, Any] | None:
    data = await ctx.udp(ip, 5353, mdns_query(["_services._dns-sd._udp.local"]), timeout=1.0)
    if not data:
        return None
    try:
        first = parse_mdns(data)
    except ValueError:
        return None
    out: dict[str, Any] = {"services": first["ptr"][:20]}
    printers = [s for s in first["ptr"] if s.startswith(("_ipp.", "_ipps.", "_pdl-datastream.",
                                                          "_printer."))]
    if printers:
        data = await ctx.udp(ip, 5353, mdns_query([printers[0]]), timeout=1.0)
        if data:
            try:
                inst = parse_mdns(data)
            except ValueError:
                inst = {"txt": {}}
            for k in ("ty", "product", "usb_mfg", "usb_mdl", "note"):
                if k in inst["txt"]:
                    out[k] = inst["txt"][k]
    return out
