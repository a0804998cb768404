"""Reading what a target answered, on a conversation the gate opened (agent/probe/gate.py is
the one door out; this module sends nothing)."""

from __future__ import annotations

import asyncio
import ssl


async def read_some(r: asyncio.StreamReader, timeout: float, limit: int = 4096) -> bytes:
    """Up to LIMIT bytes, b"" on silence. A device that resets the connection right after its
    answer (common for embedded servers that close with our next request unread) still has its
    answer in the reader's buffer: keep it rather than the error."""
    try:
        return await asyncio.wait_for(r.read(limit), timeout)
    except (TimeoutError, OSError, ssl.SSLError):
        return salvage(r, limit)


def salvage(r: asyncio.StreamReader, limit: int = 65536) -> bytes:
    buf = getattr(r, "_buffer", None)
    if not isinstance(buf, bytearray) or not buf:
        return b""
    data = bytes(buf[:limit])
    del buf[:limit]
    return data


async def read_until_idle(r: asyncio.StreamReader, first_timeout: float, idle: float = 0.3,
                          limit: int = 16384) -> bytes:
    buf = await read_some(r, first_timeout, limit)
    while buf and len(buf) < limit:
        more = await read_some(r, idle, limit - len(buf))
        if not more:
            break
        buf += more
    return buf


def message_complete(buf: bytes) -> bool:
    """An HTTP/RTSP answer is whole: its head ended and Content-Length bytes of body followed
    (no Content-Length: the head alone, for RTSP and bodiless answers; HTTP bodies without a
    length are read to the close)."""
    head, sep, body = buf.partition(b"\r\n\r\n")
    if not sep:
        head, sep, body = buf.partition(b"\n\n")
        if not sep:
            return False
    length = None
    for line in head.split(b"\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length" and v.strip().isdigit():
            length = int(v.strip())
    if length is not None:
        return len(body) >= length
    first = head.split(b"\n", 1)[0]
    status = first.split(b" ")[1:2]
    return first.startswith(b"RTSP/") or status in ([b"204"], [b"304"]) or (
        bool(status) and status[0][:1] == b"1")


async def read_message(r: asyncio.StreamReader, first_timeout: float, rest_timeout: float,
                       limit: int = 131072) -> tuple[bytes, bool]:
    """One HTTP/RTSP answer: (bytes, closed). Stops at a complete message, at the close, at
    LIMIT, or when the device goes quiet; whatever arrived is returned, never an error."""
    buf = b""
    timeout = first_timeout
    while len(buf) < limit:
        try:
            chunk = await asyncio.wait_for(r.read(min(65536, limit - len(buf))), timeout)
        except (TimeoutError, OSError, ssl.SSLError):
            closed = r.exception() is not None or r.at_eof()
            return buf + salvage(r, limit - len(buf)), closed
        if not chunk:
            return buf, True
        buf += chunk
        if message_complete(buf):
            return buf, False
        timeout = rest_timeout
    return buf, False
