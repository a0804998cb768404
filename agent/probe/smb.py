"""SMB2 NEGOTIATE + SESSION_SETUP up to the server's NTLMSSP CHALLENGE, which carries the
server's OS version (major, minor, build) and its NetBIOS/DNS names. No credentials are sent:
the exchange stops at the challenge, exactly as `nmap --script smb-os-discovery` /
`ntlm-info` do.

The builders and parsers are pure (bytes in, dicts out); `probe` is the one socket function and
opens its connection through the probe gate (`net.Gate.stream`: scope check, rate limits).
"""

from __future__ import annotations

import asyncio
import struct
from typing import Any

from agent.probe.gate import Gate

SMB2_MAGIC = b"\xfeSMB"
NTLMSSP = b"NTLMSSP\x00"
_HDR = struct.Struct("<4sHHIHHIIQIIQ16s")  # 64 bytes
_NEG_RESP = struct.Struct("<HHHH16sIIIIQQHHI")  # 64 bytes
DIALECTS = (0x0202, 0x0210, 0x0300, 0x0302)
_DIALECT_NAMES = {0x0202: "2.0.2", 0x0210: "2.1", 0x0300: "3.0", 0x0302: "3.0.2", 0x0311: "3.1.1"}
STATUS_MORE_PROCESSING = 0xC0000016
_OID_SPNEGO = bytes.fromhex("2b0601050502")
_OID_NTLMSSP = bytes.fromhex("2b06010401823702020a")
# UNICODE | REQUEST_TARGET | NTLM | ALWAYS_SIGN | EXTENDED_SESSIONSECURITY | TARGET_INFO |
# VERSION | 128 | KEY_EXCH | 56
NEGOTIATE_FLAGS = (0x1 | 0x4 | 0x200 | 0x8000 | 0x80000 | 0x800000 | 0x2000000 | 0x20000000
                   | 0x40000000 | 0x80000000)
_FLAG_VERSION = 0x2000000
AV_NAMES = {1: "netbios_computer", 2: "netbios_domain", 3: "dns_computer", 4: "dns_domain",
            5: "dns_tree"}


class SmbError(ValueError):
    """An answer that is not the SMB2/NTLMSSP message expected; the message says what."""


def _nbss(payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + payload


def _header(command: int, message_id: int) -> bytes:
    return _HDR.pack(SMB2_MAGIC, 64, 0, 0, command, 1, 0, 0, message_id, 0xFEFF, 0, 0,
                     b"\0" * 16)


def negotiate_request() -> bytes:
    body = struct.pack("<HHHHI16sQ", 36, len(DIALECTS), 1, 0, 0, b"OfficeGuardProbe", 0)
    body += b"".join(struct.pack("<H", d) for d in DIALECTS)
    return _nbss(_header(0, 0) + body)


def ntlm_negotiate() -> bytes:
    return NTLMSSP + struct.pack("<II", 1, NEGOTIATE_FLAGS) + struct.pack("<HHIHHI", 0, 0, 0,
                                                                          0, 0, 0) + \
        bytes([10, 0]) + struct.pack("<H", 0) + b"\0\0\0\x0f"


def _der(tag: int, content: bytes) -> bytes:
    n = len(content)
    if n < 0x80:
        ln = bytes([n])
    else:
        raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
        ln = bytes([0x80 | len(raw)]) + raw
    return bytes([tag]) + ln + content


def spnego_init(token: bytes) -> bytes:
    mechs = _der(0xA0, _der(0x30, _der(0x06, _OID_NTLMSSP)))
    init = _der(0xA0, _der(0x30, mechs + _der(0xA2, _der(0x04, token))))
    return _der(0x60, _der(0x06, _OID_SPNEGO) + init)


def session_setup_request(message_id: int = 1) -> bytes:
    blob = spnego_init(ntlm_negotiate())
    body = struct.pack("<HBBIIHHQ", 25, 0, 1, 0, 0, 64 + 24, len(blob), 0) + blob
    return _nbss(_header(1, message_id) + body)


def parse_header(msg: bytes) -> dict[str, Any]:
    if len(msg) < 64 or msg[:4] != SMB2_MAGIC:
        if msg[:4] == b"\xffSMB":
            raise SmbError("the server answered in SMB1 only")
        raise SmbError("not an SMB2 message")
    f = _HDR.unpack_from(msg)
    return {"status": f[3], "command": f[4], "message_id": f[8], "session_id": f[11]}


def parse_negotiate_response(msg: bytes) -> dict[str, Any]:
    h = parse_header(msg)
    if h["command"] != 0 or h["status"] != 0:
        raise SmbError(f"NEGOTIATE failed (status 0x{h['status']:08x})")
    if len(msg) < 64 + _NEG_RESP.size:
        raise SmbError("short NEGOTIATE response")
    f = _NEG_RESP.unpack_from(msg, 64)
    if f[0] != 65:
        raise SmbError("bad NEGOTIATE response structure size")
    return {"dialect": _DIALECT_NAMES.get(f[2], f"0x{f[2]:04x}"),
            "signing_required": bool(f[1] & 0x2), "server_guid": f[4].hex()}


def security_buffer(msg: bytes) -> bytes:
    """The security blob of a SESSION_SETUP response (MORE_PROCESSING_REQUIRED)."""
    h = parse_header(msg)
    if h["command"] != 1:
        raise SmbError("not a SESSION_SETUP response")
    if h["status"] not in (STATUS_MORE_PROCESSING, 0):
        raise SmbError(f"SESSION_SETUP refused (status 0x{h['status']:08x})")
    if len(msg) < 72:
        raise SmbError("short SESSION_SETUP response")
    size, _flags, off, ln = struct.unpack_from("<HHHH", msg, 64)
    if size != 9 or off + ln > len(msg):
        raise SmbError("bad SESSION_SETUP response buffer")
    return msg[off:off + ln]


def parse_challenge(blob: bytes) -> dict[str, Any]:
    """NTLMSSP CHALLENGE (found anywhere in BLOB, e.g. inside SPNEGO) → version and names."""
    at = blob.find(NTLMSSP)
    if at < 0:
        raise SmbError("no NTLMSSP message in the answer")
    m = blob[at:]
    if len(m) < 48 or struct.unpack_from("<I", m, 8)[0] != 2:
        raise SmbError("the NTLMSSP message is not a CHALLENGE")
    flags = struct.unpack_from("<I", m, 20)[0]
    out: dict[str, Any] = {"flags": flags}
    tn_len, _tn_max, tn_off = struct.unpack_from("<HHI", m, 12)
    if tn_len and tn_off + tn_len <= len(m):
        out["target_name"] = m[tn_off:tn_off + tn_len].decode("utf-16-le", "replace")
    ti_len, _ti_max, ti_off = struct.unpack_from("<HHI", m, 40)
    if flags & _FLAG_VERSION and len(m) >= 56:
        major, minor, build = struct.unpack_from("<BBH", m, 48)
        out["version"] = {"major": major, "minor": minor, "build": build,
                          "ntlm_revision": m[55]}
    info: dict[str, str] = {}
    if ti_len and ti_off + ti_len <= len(m):
        ti = m[ti_off:ti_off + ti_len]
        i = 0
        while i + 4 <= len(ti):
            av_id, av_len = struct.unpack_from("<HH", ti, i)
            i += 4
            if av_id == 0:
                break
            value = ti[i:i + av_len]
            i += av_len
            if av_id in AV_NAMES:
                info[AV_NAMES[av_id]] = value.decode("utf-16-le", "replace")[:255]
            elif av_id == 7 and av_len == 8:
                info["timestamp"] = str(struct.unpack("<Q", value)[0])
    out["target_info"] = info
    return out


async def _read_msg(r: asyncio.StreamReader, timeout: float) -> bytes:
    hdr = await asyncio.wait_for(r.readexactly(4), timeout)
    n = struct.unpack(">I", hdr)[0] & 0xFFFFFF
    if n > 1 << 20:
        raise SmbError("oversized SMB message")
    return await asyncio.wait_for(r.readexactly(n), timeout)


async def probe(ctx: Gate, ip: str, port: int = 445) -> dict[str, Any] | None:
    """NEGOTIATE, SESSION_SETUP(NTLMSSP NEGOTIATE) → dialect, version, names; None if nothing
    SMB2-shaped answered. Errors after the NEGOTIATE are reported in the result."""
    t = ctx.settings.read_timeout_s
    try:
        async with ctx.stream(ip, port) as (r, w):
            w.write(negotiate_request())
            await w.drain()
            neg = parse_negotiate_response(await _read_msg(r, t))
            out: dict[str, Any] = {"port": port, **neg}
            try:
                w.write(session_setup_request(1))
                await w.drain()
                chal = parse_challenge(security_buffer(await _read_msg(r, t)))
                out["ntlm"] = chal
            except (SmbError, OSError, TimeoutError, asyncio.IncompleteReadError) as exc:
                out["error"] = str(exc) or type(exc).__name__
            return out
    except (SmbError, OSError, TimeoutError, asyncio.IncompleteReadError):
        return None
