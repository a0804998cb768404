"""The one door out: every probe socket is opened here, after the scope check and the rate limits.

TCP connect (open / closed / filtered, as nmap -sT says), TLS, UDP request/response.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from agent.probe.ratelimit import Limiter
from agent.probe.scope import Scope

UNREACHABLE = (errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EHOSTDOWN)


@dataclass
class Settings:
    connect_timeout_s: float = 1.5
    read_timeout_s: float = 2.0
    banner_timeout_s: float = 5.0  # a device that greets late (nmap's NULL probe waits 6 s)
    rate_per_s: float = 500.0
    host_rate_per_s: float = 100.0
    host_concurrency: int = 16
    # open sockets at once: a cap on file descriptors, not a pace (the pace is rate_per_s,
    # counted in packets sent); waiting for a silent address holds a socket, never a token
    concurrency: int = 512


@dataclass
class Ctx:
    scope: Scope
    settings: Settings = field(default_factory=Settings)
    limiter: Limiter = field(init=False)
    sem: asyncio.Semaphore = field(init=False)
    refused: list[str] = field(default_factory=list)
    device: str = ""  # SO_BINDTODEVICE: probe from this interface (the guest side)

    def __post_init__(self) -> None:
        s = self.settings
        self.limiter = Limiter(s.rate_per_s, s.host_rate_per_s, s.host_concurrency)
        self.sem = asyncio.Semaphore(s.concurrency)

    async def _gate(self, ip: str) -> None:
        self.scope.check(ip)  # raises OutOfScope before anything is sent
        await self.limiter.take(ip)

    def bind(self, sock: socket.socket) -> None:
        if self.device:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, self.device.encode())

    async def _open(self, ip: str, port: int, sslctx: ssl.SSLContext | None = None,
                    server_hostname: str | None = None
                    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if not self.device:
            return await asyncio.open_connection(ip, port, ssl=sslctx,
                                                 server_hostname=server_hostname)
        fam = socket.AF_INET6 if ":" in ip else socket.AF_INET
        sock = socket.socket(fam, socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            self.bind(sock)
            await asyncio.get_running_loop().sock_connect(sock, (ip, port))
        except BaseException:
            sock.close()
            raise
        return await asyncio.open_connection(sock=sock, ssl=sslctx,
                                             server_hostname=server_hostname)

    async def tcp_state(self, ip: str, port: int, timeout: float | None = None) -> str:
        """open | closed | filtered | unreachable (the network said no such host: ICMP
        host/net unreachable, or the neighbour never answered)."""
        async with self.sem, self.limiter.sem(ip):
            await self._gate(ip)
            try:
                _r, w = await asyncio.wait_for(self._open(ip, port),
                                               timeout or self.settings.connect_timeout_s)
            except ConnectionRefusedError:
                return "closed"
            except TimeoutError:
                return "filtered"
            except OSError as exc:
                if exc.errno in (errno.ECONNREFUSED,):
                    return "closed"
                if exc.errno in UNREACHABLE:
                    return "unreachable"
                return "filtered"
            w.close()
            with contextlib.suppress(OSError, asyncio.TimeoutError, TimeoutError):
                await asyncio.wait_for(w.wait_closed(), 1)
            return "open"

    @contextlib.asynccontextmanager
    async def stream(self, ip: str, port: int, tls: bool = False, server_hostname: str = "",
                     ssl_ctx: ssl.SSLContext | None = None
                     ) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
        async with self.sem, self.limiter.sem(ip):
            await self._gate(ip)
            ctx = None
            if tls:
                ctx = ssl_ctx or insecure_tls()
            r, w = await asyncio.wait_for(
                self._open(ip, port, ctx, (server_hostname or ip) if tls else None),
                self.settings.connect_timeout_s + (2 if tls else 0))
            try:
                yield r, w
            finally:
                w.close()
                with contextlib.suppress(OSError, asyncio.TimeoutError, TimeoutError,
                                         ssl.SSLError):
                    await asyncio.wait_for(w.wait_closed(), 1)

    async def udp(self, ip: str, port: int, payload: bytes, timeout: float | None = None,
                  src_port: int = 0) -> bytes | None:
        """Send one datagram and wait for the first answer from that address."""
        async with self.sem, self.limiter.sem(ip):
            await self._gate(ip)
            loop = asyncio.get_running_loop()
            fam = socket.AF_INET6 if ":" in ip else socket.AF_INET
            sock = socket.socket(fam, socket.SOCK_DGRAM)
            sock.setblocking(False)
            try:
                self.bind(sock)
                if src_port:
                    sock.bind(("", src_port))
                sock.connect((ip, port))
                await loop.sock_sendall(sock, payload)
                return await asyncio.wait_for(loop.sock_recv(sock, 65535),
                                              timeout or self.settings.read_timeout_s)
            except (TimeoutError, OSError):
                return None
            finally:
                sock.close()


def insecure_tls() -> ssl.SSLContext:
    """For reading banners of devices with self-signed certificates; never for trust decisions."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with contextlib.suppress(ssl.SSLError):
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    ctx.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
    return ctx


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
