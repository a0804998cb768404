"""RDP with Network Level Authentication (CredSSP) up to the server's NTLMSSP CHALLENGE: the same
version structure (major, minor, build) and names as over SMB. No credentials are sent.

X.224 Connection Request asking for TLS or CredSSP → Connection Confirm; if the server selects
CredSSP (HYBRID): TLS, then a TSRequest carrying an NTLMSSP NEGOTIATE, answered by a TSRequest
carrying the CHALLENGE ([MS-RDPBCGR] 2.2.1.1-2, [MS-CSSP] 2.2.1). Pure builders and parsers plus
one socket function through the probe gate.
"""

from __future__ import annotations

import asyncio
import ssl
import struct
from typing import Any

from agent.probe.gate import Gate
from agent.probe.smb import SmbError, _der, ntlm_negotiate, parse_challenge

PROTOCOL_SSL, PROTOCOL_HYBRID = 0x1, 0x2
PROTOCOLS = {0: "rdp", 1: "tls", 2: "credssp", 8: "credssp-early-auth"}


def connection_request(protocols: int = PROTOCOL_SSL | PROTOCOL_HYBRID) -> bytes:
    neg = struct.pack("<BBHI", 0x01, 0, 8, protocols)
    x224 = bytes([6 + len(neg), 0xE0, 0, 0, 0, 0, 0]) + neg
    return struct.pack(">BBH", 3, 0, 4 + len(x224)) + x224


def parse_connection_confirm(data: bytes) -> dict[str, Any]:
    if len(data) < 11 or data[0] != 3 or data[5] != 0xD0:
        raise SmbError("not an X.224 Connection Confirm")
    if len(data) < 19:
        return {"selected": "rdp", "nla": False}  # no negotiation: standard RDP security
    kind, _flags, _ln, value = struct.unpack_from("<BBHI", data, 11)
    if kind == 0x03:
        return {"selected": "", "nla": False, "failure_code": value}
    if kind != 0x02:
        raise SmbError("unexpected RDP negotiation answer")
    return {"selected": PROTOCOLS.get(value, str(value)), "nla": bool(value & 0xA)}


def ts_request(token: bytes) -> bytes:
    version = _der(0xA0, _der(0x02, b"\x06"))
    nego = _der(0xA1, _der(0x30, _der(0x30, _der(0xA0, _der(0x04, token)))))
    return _der(0x30, version + nego)


def _complete(data: bytes) -> bool:
    """A whole DER TSRequest has arrived."""
    if len(data) < 2:
        return False
    if data[1] < 0x80:
        return len(data) >= 2 + data[1]
    k = data[1] & 0x7F
    return len(data) >= 2 + k and len(data) >= 2 + k + int.from_bytes(data[2:2 + k], "big")


async def probe(ctx: Gate, ip: str, port: int = 3389) -> dict[str, Any] | None:
    t = ctx.settings.read_timeout_s
    try:
        async with ctx.stream(ip, port) as (r, w):
            w.write(connection_request())
            await w.drain()
            hdr = await asyncio.wait_for(r.readexactly(4), t)
            n = struct.unpack(">H", hdr[2:4])[0]
            cc = parse_connection_confirm(hdr + await asyncio.wait_for(r.readexactly(n - 4), t))
            out: dict[str, Any] = {"port": port, **cc}
            if cc["selected"] not in ("credssp", "credssp-early-auth"):
                return out
            try:
                await ctx.upgrade_tls(w, t + 2)
                w.write(ts_request(ntlm_negotiate()))
                await w.drain()
                data = b""
                while not _complete(data):
                    more = await asyncio.wait_for(r.read(4096), t)
                    if not more:
                        break
                    data += more
                out["ntlm"] = parse_challenge(data)
            except (SmbError, OSError, TimeoutError, ssl.SSLError,
                    asyncio.IncompleteReadError) as exc:
                out["error"] = str(exc) or type(exc).__name__
            return out
    except (SmbError, OSError, TimeoutError, ValueError, asyncio.IncompleteReadError):
        return None
