"""The one door out: every packet a probe sends toward a target leaves through a `Gate`.

Before anything is sent the gate checks, in this order, the scope (the one validation of
appliance/scope.py, names resolved and every address checked), the capability the packet
needs (CAP_NET_RAW for ARP, raw ICMP; read from the effective set, never inferred from the
user id) and the rate limits (a global and a per-host token bucket, a per-host concurrency
cap). TCP connects (open / closed / filtered, as nmap -sT says), TLS (on the gate's own
connection), UDP request/response, ICMP echo (raw or the kernel's ping socket), ARP on a
segment (AF_PACKET) and the external clients a probe runs (OpenSSH for one login attempt) all
live here; no other module opens a socket toward a target (tests/test_gate.py walks the AST).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import socket
import ssl
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field

from agent.probe import segments
from agent.probe.caps import Cap, MissingCapability, effective
from agent.probe.ratelimit import Limiter
from agent.probe.scope import OutOfScope, Resolver, Scope, system_resolver

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
class Gate:
    scope: Scope
    settings: Settings = field(default_factory=Settings)
    limiter: Limiter = field(init=False)
    sem: asyncio.Semaphore = field(init=False)
    refused: list[str] = field(default_factory=list)
    device: str = ""  # SO_BINDTODEVICE: probe from this interface (the guest side)
    caps: frozenset[Cap] | None = None  # None: read the effective set on first use

    def __post_init__(self) -> None:
        s = self.settings
        self.limiter = Limiter(s.rate_per_s, s.host_rate_per_s, s.host_concurrency)
        self.sem = asyncio.Semaphore(s.concurrency)

    def on_device(self, device: str) -> Gate:
        """The same gate seen from another interface: one scope, one rate for the cycle."""
        g = Gate(self.scope, self.settings, refused=self.refused, device=device, caps=self.caps)
        g.limiter, g.sem = self.limiter, self.sem
        return g

    # -- the checks ---------------------------------------------------------------------------

    def has(self, cap: Cap) -> bool:
        if self.caps is None:
            self.caps = effective()
        return cap in self.caps

    def require(self, cap: Cap, what: str) -> None:
        if not self.has(cap):
            raise MissingCapability(cap, what)

    async def admit(self, ip: str) -> None:
        """Scope, then rate: OutOfScope before anything is sent to an address outside it."""
        self.scope.check(ip)
        await self.limiter.take(ip)

    def resolve(self, name: str, resolver: Resolver = system_resolver) -> list[str]:
        return self.scope.resolve(name, resolver)

    def url_target(self, url: str, resolver: Resolver = system_resolver
                   ) -> tuple[str, list[str]]:
        return self.scope.url_target(url, resolver)

    def _bind(self, sock: socket.socket) -> None:
        if not self.device:
            return
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, self.device.encode())
        except PermissionError as exc:  # kernels before 5.7 want CAP_NET_RAW for this
            raise MissingCapability(Cap.NET_RAW, f"probing from {self.device}",
                                    "SO_BINDTODEVICE refused") from exc

    # -- TCP and TLS --------------------------------------------------------------------------

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
            self._bind(sock)
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
            await self.admit(ip)
            try:
                _r, w = await asyncio.wait_for(self._open(ip, port),
                                               timeout or self.settings.connect_timeout_s)
            except ConnectionRefusedError:
                return "closed"
            except TimeoutError:
                return "filtered"
            except MissingCapability:
                raise
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
        """A TCP (or TLS) conversation with IP:PORT; HTTP, SSH and telnet banners, RTSP, SMB,
        RDP, IPP and the credential checks all talk through this."""
        async with self.sem, self.limiter.sem(ip):
            await self.admit(ip)
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

    async def upgrade_tls(self, w: asyncio.StreamWriter, timeout: float,
                        ssl_ctx: ssl.SSLContext | None = None) -> None:
        """Upgrade a conversation this gate opened (RDP's CredSSP) to TLS, on the same socket."""
        await asyncio.wait_for(w.start_tls(ssl_ctx or insecure_tls()), timeout)

    # -- UDP ----------------------------------------------------------------------------------

    async def udp(self, ip: str, port: int, payload: bytes, timeout: float | None = None,
                  src_port: int = 0) -> bytes | None:
        """Send one datagram (SNMP, SSDP, mDNS) and wait for the first answer from there."""
        async with self.sem, self.limiter.sem(ip):
            await self.admit(ip)
            loop = asyncio.get_running_loop()
            fam = socket.AF_INET6 if ":" in ip else socket.AF_INET
            sock = socket.socket(fam, socket.SOCK_DGRAM)
            sock.setblocking(False)
            try:
                self._bind(sock)
                if src_port:
                    sock.bind(("", src_port))
                sock.connect((ip, port))
                await loop.sock_sendall(sock, payload)
                return await asyncio.wait_for(loop.sock_recv(sock, 65535),
                                              timeout or self.settings.read_timeout_s)
            except MissingCapability:
                raise
            except (TimeoutError, OSError):
                return None
            finally:
                sock.close()

    # -- ARP ----------------------------------------------------------------------------------

    async def arp_sweep(self, iface: segments.Iface, targets: list[str], wait_s: float = 1.0
                        ) -> dict[str, str]:
        """ip -> mac for every target on IFACE's segment that answers an ARP request.
        MissingCapability (nothing sent) without CAP_NET_RAW."""
        if not targets:
            return {}
        for ip in targets:  # the whole sweep is refused before its first frame
            self.scope.check(ip)
        self.require(Cap.NET_RAW, "an ARP sweep")
        loop = asyncio.get_running_loop()
        try:
            s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW,
                              socket.htons(segments.ETH_P_ARP))
        except PermissionError as exc:  # the set said yes, the kernel (a sandbox) said no
            raise MissingCapability(Cap.NET_RAW, "an ARP sweep", str(exc)) from exc
        found: dict[str, str] = {}
        wanted = set(targets)

        async def receive(until: float) -> None:
            while (left := until - time.monotonic()) > 0:
                try:
                    frame = await asyncio.wait_for(loop.sock_recv(s, 2048), left)
                except TimeoutError:
                    return
                got = segments.parse_arp_reply(frame)
                if got and got[0] in wanted:
                    found.setdefault(got[0], got[1])

        try:
            s.bind((iface.name, 0))
            s.setblocking(False)
            rx = asyncio.ensure_future(receive(time.monotonic() + 3600))
            for ip in targets:
                await self.admit(ip)
                await loop.sock_sendall(s, segments.arp_request(iface.mac, iface.ip, ip))
            await asyncio.sleep(wait_s)
            rx.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await rx
        finally:
            s.close()
        return found

    # -- ICMP ---------------------------------------------------------------------------------

    def _icmp_socket(self) -> tuple[socket.socket, bool]:
        """A raw ICMP socket (CAP_NET_RAW, what the agent ships with), else the kernel's
        unprivileged ping socket (net.ipv4.ping_group_range), else MissingCapability."""
        if self.has(Cap.NET_RAW):
            with contextlib.suppress(PermissionError):
                return socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP), True
        try:
            return socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP), False
        except OSError as exc:
            raise MissingCapability(Cap.NET_RAW, "an ICMP echo",
                                    "and the kernel's ping socket is not open to this group: "
                                    f"{exc.strerror or exc}") from exc

    async def ping(self, ip: str, timeout: float = 1.0) -> bool:
        """One ICMP echo; True when IP answers. MissingCapability when no ICMP is possible."""
        await self.admit(ip)
        loop = asyncio.get_running_loop()
        s, raw = self._icmp_socket()
        ident = os.getpid() & 0xFFFF
        seq = int(time.monotonic() * 1000) & 0xFFFF
        try:
            s.setblocking(False)
            self._bind(s)
            s.connect((ip, 0))
            await loop.sock_sendall(s, segments.echo_request(ident, seq))
            deadline = time.monotonic() + timeout
            while (left := deadline - time.monotonic()) > 0:
                data = await asyncio.wait_for(loop.sock_recv(s, 2048), left)
                if raw:
                    if segments.parse_icmp(data, ident) == ("alive", ip):
                        return True
                elif data[:1] == b"\0":  # ping socket: the kernel matched our echo id
                    return True
        except MissingCapability:
            raise
        except (TimeoutError, OSError):
            return False
        finally:
            s.close()
        return False

    async def ping_sweep(self, targets: list[str], wait_s: float = 1.0
                         ) -> tuple[set[str], set[str]] | None:
        """One ICMP echo to every target at once (each through the scope and the rate limit).
        Returns (alive, dead): dead are the addresses a router reported unreachable. None when
        this process may not send ICMP at all. Waits WAIT_S after the last request, less when
        every target has been heard of."""
        for ip in targets:
            self.scope.check(ip)
        try:
            s, raw = self._icmp_socket()
        except MissingCapability:
            return None
        if not targets:
            s.close()
            return set(), set()
        loop = asyncio.get_running_loop()
        ident = (os.getpid() ^ int(time.monotonic() * 1000)) & 0xFFFF
        wanted = set(targets)
        alive: set[str] = set()
        dead: set[str] = set()
        done = asyncio.Event()

        async def receive() -> None:
            while True:
                try:
                    data, addr = await loop.sock_recvfrom(s, 2048)
                except OSError:  # an error queued on the socket; the next datagram still counts
                    continue
                if raw:
                    got = segments.parse_icmp(data, ident)
                else:  # ping socket: the kernel matches our echo id; data is bare ICMP
                    got = ("alive", addr[0]) if data[:1] == b"\0" else None
                if got and got[1] in wanted and got[1] not in alive:
                    (alive if got[0] == "alive" else dead).add(got[1])
                    if len(alive | dead) >= len(wanted):
                        done.set()

        try:
            s.setblocking(False)
            self._bind(s)
            rx = asyncio.ensure_future(receive())
            for seq, ip in enumerate(targets):
                await self.admit(ip)
                with contextlib.suppress(OSError):  # a local "no route" is no answer
                    await loop.sock_sendto(s, segments.echo_request(ident, seq & 0xFFFF),
                                           (ip, 0))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), wait_s)
            rx.cancel()
            with contextlib.suppress(asyncio.CancelledError, OSError):
                await rx
        finally:
            s.close()
        dead -= alive
        return alive, dead

    # -- external clients ---------------------------------------------------------------------

    async def run_client(self, ip: str, argv: list[str], env: Mapping[str, str],
                         timeout: float) -> tuple[int | None, bytes]:
        """Run a client program (OpenSSH) whose only peer is IP, after the same checks as a
        packet: (exit status or None on timeout, its stderr)."""
        await self.admit(ip)
        if ip not in argv:
            raise OutOfScope(f"{argv[0]}: the client must name {ip} itself")
        proc = await asyncio.create_subprocess_exec(
            *argv, env=dict(env), stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
        try:
            _, err = await asyncio.wait_for(proc.communicate(), timeout)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            return None, b""
        return proc.returncode, err or b""


def insecure_tls() -> ssl.SSLContext:
    """For reading banners of devices with self-signed certificates; never for trust decisions."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with contextlib.suppress(ssl.SSLError):
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    ctx.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
    return ctx
