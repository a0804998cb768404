"""Banner grabbing on open TCP ports: HTTP(S), SSH, FTP, Telnet, RTSP, IPP, and a generic
read-then-HTTP fallback. Each returns what it learned; nothing here decides a finding.

Real devices are rough: a server answers one request and closes (the next request goes on a new
connection), greets seconds late, speaks HTTP/1.0 without a length, speaks TLS on a port where
plain text was expected or the reverse, or stops half way. A probe keeps whatever it learnt and
records the error beside it; it never drops a result for a parse error."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import struct
from typing import Any

from agent.probe import fingerprint as fp
from agent.probe import ipp
from agent.probe.dnsname import read_name as _name
from agent.probe.gate import Gate
from agent.probe.net import read_message, read_some, read_until_idle

TLS_PORTS = {443, 8443, 993, 995, 465, 636, 5001, 9443}
HTTP_PORTS = {80, 8000, 8008, 8080, 8081, 8888, 5000, 7547, 49152, 5357}
SERVICE_NAMES = {21: "ftp", 22: "ssh", 23: "telnet", 25: "smtp", 53: "domain", 80: "http",
                 139: "netbios-ssn", 443: "https", 445: "microsoft-ds", 515: "printer",
                 554: "rtsp", 631: "ipp", 1883: "mqtt", 1900: "upnp", 3389: "ms-wbt-server",
                 5000: "upnp", 5357: "wsdapi", 7547: "cwmp", 8000: "http-alt",
                 8080: "http-proxy", 8443: "https-alt", 8554: "rtsp-alt", 9100: "jetdirect"}
ERRORS = (OSError, asyncio.TimeoutError, TimeoutError, ssl.SSLError, EOFError, ValueError)


def _clean(b: bytes, n: int = 256) -> str:
    s = b.decode("utf-8", "replace")
    return "".join(c if c.isprintable() else " " for c in s).strip()[:n]


class NotHTTP(ValueError):
    """The answer was not HTTP/RTSP; `raw` keeps what the device said (a late banner, say)."""

    def __init__(self, raw: bytes) -> None:
        super().__init__("not an HTTP/RTSP response" if raw else "no answer")
        self.raw = raw


def parse_http(raw: bytes) -> dict[str, Any]:
    """Status, headers and body of an HTTP or RTSP answer; bare-LF line ends (HTTP/1.0 era
    embedded servers) and a missing reason phrase are accepted. Raises NotHTTP."""
    head, sep, body = raw.partition(b"\r\n\r\n")
    if not sep:
        head, _, body = raw.partition(b"\n\n")
    lines = head.decode("iso-8859-1").replace("\r\n", "\n").split("\n")
    parts = lines[0].strip().split(" ", 2) if lines else []
    if len(parts) < 2 or not parts[0].startswith(("HTTP/", "RTSP/")) or not parts[1].isdigit():
        raise NotHTTP(raw)
    headers: dict[str, str] = {}
    for line in lines[1:]:
        k, colon, v = line.partition(":")
        if colon:
            headers.setdefault(k.strip().lower(), v.strip())
    return {"status": int(parts[1]), "headers": headers, "body": body, "proto": parts[0]}


def http_request(ip: str, port: int, method: str = "GET", path: str = "/", host: str = "",
                 body: bytes = b"", extra: str = "") -> bytes:
    hosthdr = host or (f"[{ip}]" if ":" in ip else ip)
    if port not in (80, 443):
        hosthdr += f":{port}"
    req = (f"{method} {path} HTTP/1.1\r\nHost: {hosthdr}\r\nUser-Agent: OfficeGuard-probe\r\n"
           f"Accept: */*\r\nConnection: close\r\n{extra}")
    if body:
        req += f"Content-Length: {len(body)}\r\n"
    return req.encode() + b"\r\n" + body


async def http_get(ctx: Gate, ip: str, port: int, tls: bool, path: str = "/", host: str = "",
                   method: str = "GET", body: bytes = b"", extra: str = "",
                   ssl_ctx: ssl.SSLContext | None = None, limit: int = 131072) -> dict[str, Any]:
    req = http_request(ip, port, method, path, host, body, extra)
    async with ctx.stream(ip, port, tls, server_hostname=host, ssl_ctx=ssl_ctx) as (r, w):
        w.write(req)
        with contextlib.suppress(*ERRORS):  # a device that answers before reading it all
            await w.drain()
        # stops at Content-Length, at the close (HTTP/1.0) or when the device goes quiet
        raw, _closed = await read_message(r, ctx.settings.read_timeout_s,
                                          ctx.settings.read_timeout_s, limit)
    return parse_http(raw)


async def http_info(ctx: Gate, ip: str, port: int, tls: bool) -> dict[str, Any]:
    res = await http_get(ctx, ip, port, tls)
    return http_result(res, tls)


def http_result(res: dict[str, Any], tls: bool) -> dict[str, Any]:
    h = res["headers"]
    product, version = fp.http_server(h.get("server", ""))
    title = fp.html_title(res["body"])
    realm = fp.realm(h.get("www-authenticate", ""))
    return {"service": "https" if tls else "http", "product": product, "version": version,
            "banner": _clean(h.get("server", "").encode()),
            "http": {"status": res["status"], "server": h.get("server", "")[:200],
                     "title": title, "realm": realm, "location": h.get("location", "")[:500],
                     "auth": h.get("www-authenticate", "").split(" ")[0][:40],
                     "admin": fp.looks_like_admin(title, realm, res["body"])}}


async def ssh_info(ctx: Gate, ip: str, port: int) -> dict[str, Any]:
    async with ctx.stream(ip, port) as (r, _w):
        line = await read_some(r, ctx.settings.banner_timeout_s, 512)
        if line and b"\n" not in line:  # the identification line came in pieces
            line += await read_some(r, ctx.settings.read_timeout_s, 512)
    banner = _clean(line.split(b"\n")[0])
    i = fp.ssh(banner)
    out = {"service": "ssh", "product": i.product, "version": i.version, "banner": banner}
    if not line:
        out["error"] = "no SSH identification"
    return out


async def ftp_info(ctx: Gate, ip: str, port: int) -> dict[str, Any]:
    greet = b""
    anon = False
    error = ""
    async with ctx.stream(ip, port) as (r, w):
        greet = await read_until_idle(r, ctx.settings.banner_timeout_s)
        try:
            if greet.startswith(b"220"):
                w.write(b"USER anonymous\r\n")
                await w.drain()
                ans = await read_until_idle(r, ctx.settings.read_timeout_s)
                if ans.startswith(b"331"):
                    w.write(b"PASS officeguard@example.invalid\r\n")
                    await w.drain()
                    ans = await read_until_idle(r, ctx.settings.read_timeout_s)
                anon = ans.startswith(b"230")
                w.write(b"QUIT\r\n")
                with contextlib.suppress(*ERRORS):
                    await w.drain()
        except ERRORS as exc:  # the greeting is still what it is
            error = f"{type(exc).__name__}: {exc}"[:200]
    banner = _clean(greet.split(b"\r\n")[0])
    i = fp.ftp(banner)
    out: dict[str, Any] = {"service": "ftp", "product": i.product, "version": i.version,
                           "banner": banner, "ftp": {"anonymous": anon}}
    if error or not greet:
        out["error"] = error or "no FTP greeting"
    return out


def strip_telnet(data: bytes) -> tuple[bytes, bytes]:
    """(text, replies): drop IAC negotiation and refuse every option."""
    text, reply, i = bytearray(), bytearray(), 0
    while i < len(data):
        c = data[i]
        if c == 255 and i + 1 < len(data):
            cmd = data[i + 1]
            if cmd in (251, 252, 253, 254) and i + 2 < len(data):  # WILL WONT DO DONT
                opt = data[i + 2]
                if cmd == 253:
                    reply += bytes([255, 252, opt])  # DO -> WONT
                elif cmd == 251:
                    reply += bytes([255, 254, opt])  # WILL -> DONT
                i += 3
                continue
            if cmd == 250:  # subnegotiation: skip to IAC SE
                end = data.find(b"\xff\xf0", i)
                i = len(data) if end < 0 else end + 2
                continue
            i += 2
            continue
        text.append(c)
        i += 1
    return bytes(text), bytes(reply)


async def telnet_info(ctx: Gate, ip: str, port: int) -> dict[str, Any]:
    text = first = b""
    error = ""
    async with ctx.stream(ip, port) as (r, w):
        try:
            for n in range(4):
                wait = ctx.settings.banner_timeout_s if n == 0 else ctx.settings.read_timeout_s
                data = await read_until_idle(r, wait)
                if not data:
                    break
                first = first or data
                t, reply = strip_telnet(data)
                text += t
                if reply:
                    w.write(reply)
                    await w.drain()
                if t.strip():
                    break
        except ERRORS as exc:  # negotiation cut short: keep what the device said
            error = f"{type(exc).__name__}: {exc}"[:200]
    s = _clean(text, 512)
    i = fp.telnet(s, first)
    low = s.lower()
    out: dict[str, Any] = {
        "service": "telnet", "product": i.product, "version": i.version, "banner": s[:200],
        "telnet": {"login_prompt": "login" in low or "user" in low or "password" in low,
                   "shell_without_login": s.rstrip().endswith(("#", "$", ">"))
                   and "login" not in low}}
    if error:
        out["error"] = error
    return out


async def exchange(ctx: Gate, ip: str, port: int, requests: list[bytes]
                   ) -> list[tuple[bytes, str]]:
    """Send REQUESTS in turn on one connection while the device keeps it open; when it closes
    after an answer (many embedded servers do), the next request goes on a new connection.
    Returns (answer, error) per request; an answer is whatever arrived, never dropped."""
    out: list[tuple[bytes, str]] = []
    cm: Any = None
    conn: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def close() -> None:
        nonlocal cm, conn
        if cm is not None:
            with contextlib.suppress(*ERRORS):
                await cm.__aexit__(None, None, None)
        cm = conn = None

    try:
        for req in requests:
            ans, err = b"", ""
            for _attempt in range(2):
                fresh = conn is None
                try:
                    if conn is None:
                        cm = ctx.stream(ip, port)
                        conn = await cm.__aenter__()
                    r, w = conn
                    w.write(req)
                    with contextlib.suppress(*ERRORS):
                        await w.drain()
                    ans, closed = await read_message(r, ctx.settings.read_timeout_s,
                                                     ctx.settings.read_timeout_s)
                except ERRORS as exc:
                    cm = conn = None  # the connect itself failed: nothing to close
                    ans, closed, err = b"", True, f"{type(exc).__name__}: {exc}"[:200]
                if closed:
                    await close()
                if ans or fresh:
                    break  # answered, or a new connection got nothing either
            out.append((ans, "" if ans else (err or "no answer")))
    finally:
        await close()
    return out


def _sdp(res: dict[str, Any]) -> bool:
    ctype = res["headers"].get("content-type", "").lower()
    return "application/sdp" in ctype or res["body"].lstrip().startswith(b"v=0")


async def rtsp_info(ctx: Gate, ip: str, port: int) -> dict[str, Any]:
    """OPTIONS then DESCRIBE without credentials. DESCRIBE 200 with an SDP body means anyone on
    the network can watch the stream. Each answer is kept on its own: a device that closes
    after OPTIONS, or cuts DESCRIBE short, still reports what it said."""
    url = f"rtsp://{ip}:{port}/"
    out: dict[str, Any] = {"service": "rtsp", "product": "", "version": "", "banner": ""}
    answers = await exchange(ctx, ip, port, [
        f"OPTIONS {url} RTSP/1.0\r\nCSeq: 1\r\nUser-Agent: OfficeGuard-probe\r\n\r\n".encode(),
        f"DESCRIBE {url} RTSP/1.0\r\nCSeq: 2\r\nAccept: application/sdp\r\n"
        "User-Agent: OfficeGuard-probe\r\n\r\n".encode()])
    parsed: list[dict[str, Any] | None] = []
    errors = []
    for (raw, err), what in zip(answers, ("OPTIONS", "DESCRIBE"), strict=True):
        try:
            parsed.append(parse_http(raw))
        except NotHTTP as exc:
            parsed.append(None)
            errors.append(f"{what}: {err or exc}")
    opt, desc = parsed
    if opt is None and desc is None:
        raise NotHTTP(answers[0][0] or answers[1][0])
    server = ((opt or {}).get("headers", {}).get("server", "")
              or (desc or {}).get("headers", {}).get("server", ""))
    out["product"], out["version"] = fp.http_server(server)
    out["banner"] = _clean(server.encode())
    out["rtsp"] = {"options_status": opt["status"] if opt else None,
                   "describe_status": desc["status"] if desc else None,
                   "sdp": bool(desc and _sdp(desc)),
                   "unauthenticated": bool(desc and desc["status"] == 200 and _sdp(desc)),
                   "auth": ((desc or {}).get("headers", {}).get("www-authenticate", "")
                            .split(" ")[0][:40]),
                   "public": (opt or {}).get("headers", {}).get("public", "")[:200]}
    if errors:
        out["error"] = "; ".join(errors)[:200]
    return out


async def ipp_info(ctx: Gate, ip: str, port: int, tls: bool = False) -> dict[str, Any]:
    last: Exception | None = None
    for path in ("/ipp/print", "/"):
        uri = f"ipp://{ip}:{port}{path}"
        try:
            res = await http_get(ctx, ip, port, tls, path=path, method="POST",
                                 body=ipp.get_printer_attributes(uri),
                                 extra="Content-Type: application/ipp\r\n")
        except ERRORS as exc:
            last = exc
            continue
        if res["status"] != 200:
            continue
        status, attrs = ipp.parse_response(res["body"])
        if status >= 0x0400:
            continue
        product, version = fp.http_server(res["headers"].get("server", ""))
        keep = {k: [v for v in vs if isinstance(v, str)][:4] for k, vs in attrs.items()
                if k in ipp.REQUESTED}
        return {"service": "ipp", "product": product, "version": version,
                "banner": _clean(res["headers"].get("server", "").encode()), "ipp": keep}
    raise last or ValueError("no IPP answer")


async def smtp_info(ctx: Gate, ip: str, port: int) -> dict[str, Any]:
    async with ctx.stream(ip, port) as (r, w):
        greet = await read_until_idle(r, ctx.settings.banner_timeout_s)
        w.write(b"QUIT\r\n")
        with contextlib.suppress(*ERRORS):
            await w.drain()
    banner = _clean(greet.split(b"\r\n")[0])
    i = fp.smtp(banner)
    return {"service": "smtp", "product": i.product, "version": i.version, "banner": banner}


def version_bind_query(qid: int = 0x4F47) -> bytes:
    q = (struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0) + b"\x07version\x04bind\x00"
         + struct.pack(">HH", 16, 3))  # TXT, CHAOS
    return struct.pack(">H", len(q)) + q


def parse_txt_answer(msg: bytes) -> str:
    """The first TXT string of a DNS answer (after the question), or ""."""
    if len(msg) < 12:
        return ""
    _id, _flags, qd, an, _ns, _ar = struct.unpack(">HHHHHH", msg[:12])
    i = 12
    for _ in range(qd):
        _, i = _name(msg, i)
        i += 4
    for _ in range(an):
        _, i = _name(msg, i)
        rtype, _cls, _ttl, rdlen = struct.unpack(">HHIH", msg[i:i + 10])
        i += 10
        if rtype == 16 and rdlen:
            n = msg[i]
            return msg[i + 1:i + 1 + n].decode("utf-8", "replace")
        i += rdlen
    return ""


async def dns_info(ctx: Gate, ip: str, port: int) -> dict[str, Any]:
    async with ctx.stream(ip, port) as (r, w):
        w.write(version_bind_query())
        await w.drain()
        head = await asyncio.wait_for(r.readexactly(2), ctx.settings.read_timeout_s)
        (n,) = struct.unpack(">H", head)
        msg = await asyncio.wait_for(r.readexactly(n), ctx.settings.read_timeout_s)
    try:
        txt = parse_txt_answer(msg)
    except (ValueError, struct.error):
        txt = ""
    i = fp.dns_version(txt)
    return {"service": "domain", "product": i.product, "version": i.version,
            "banner": _clean(txt.encode())}


def classify(data: bytes, port: int) -> dict[str, Any] | None:
    """A greeting in nmap's words (SSH, FTP, SMTP, Telnet), a bare banner, or None for silence."""
    first = _clean(data.split(b"\n")[0])
    if data.startswith(b"SSH-"):
        i = fp.ssh(first)
        return {"service": "ssh", "product": i.product, "version": i.version, "banner": first}
    if data.startswith(b"220"):
        i = fp.ftp(_clean(data))
        if i.product:
            return {"service": "ftp", "product": i.product, "version": i.version,
                    "banner": first}
        if b"SMTP" in data.upper():
            i = fp.smtp(_clean(data))
            return {"service": "smtp", "product": i.product, "version": i.version,
                    "banner": first}
    if data.startswith(b"\xff"):
        text, _ = strip_telnet(data)
        return {"service": "telnet", "product": "", "version": "", "banner": _clean(text)}
    if data:
        return {"service": SERVICE_NAMES.get(port, "unknown"), "product": "", "version": "",
                "banner": _clean(data)}
    return None


async def _http_or_banner(ctx: Gate, ip: str, port: int, tls: bool) -> dict[str, Any]:
    """HTTP(S) on PORT; an RTSP server gets the RTSP probe; a device that answers with something
    else (a greeting that came late, say) is classified by what it said, never dropped."""
    try:
        res = await http_get(ctx, ip, port, tls)
    except NotHTTP as exc:
        got = classify(exc.raw, port)
        if got is None:
            raise
        return got
    if res["proto"].startswith("RTSP/"):
        return await rtsp_info(ctx, ip, port)
    return http_result(res, tls)


async def generic_info(ctx: Gate, ip: str, port: int) -> dict[str, Any]:
    """An unknown port: wait for a greeting; if none comes, ask in HTTP on the same connection
    (a greeting that arrives late still wins); then try TLS (nmap's ssl/...)."""
    rt = ctx.settings.read_timeout_s
    async with ctx.stream(ip, port) as (r, w):
        data = await read_some(r, rt, 1024)
        if not data:
            w.write(http_request(ip, port))
            with contextlib.suppress(*ERRORS):
                await w.drain()
            data, _closed = await read_message(r, rt, rt)
    res = None
    with contextlib.suppress(NotHTTP):
        res = parse_http(data)
    if res is not None and res["proto"].startswith("RTSP/"):
        return await rtsp_info(ctx, ip, port)
    if res is not None:
        return http_result(res, False)
    got = classify(data, port)
    if got is not None:
        return got
    with contextlib.suppress(*ERRORS):
        return await _http_or_banner(ctx, ip, port, True)
    return {"service": SERVICE_NAMES.get(port, "unknown"), "product": "", "version": "",
            "banner": ""}


async def _http_port(ctx: Gate, ip: str, port: int, tls: bool) -> dict[str, Any]:
    """HTTP where HTTP is expected, TLS first on the usual TLS ports; the other way round when
    the first fails (a device with TLS on 80/8080, or plain HTTP on 8443), then anything."""
    try:
        return await _http_or_banner(ctx, ip, port, tls)
    except ERRORS as first:
        with contextlib.suppress(*ERRORS):
            return await _http_or_banner(ctx, ip, port, not tls)
        if isinstance(first, NotHTTP):
            raise first
        return await generic_info(ctx, ip, port)


async def identify(ctx: Gate, ip: str, port: int) -> dict[str, Any]:
    """What answers on an open TCP port. Never raises: a probe that failed half way keeps what
    it learnt with the error beside it; one that learnt nothing leaves the service name."""
    try:
        if port == 22:
            return await ssh_info(ctx, ip, port)
        if port == 21:
            return await ftp_info(ctx, ip, port)
        if port == 23:
            return await telnet_info(ctx, ip, port)
        if port in (554, 8554):
            return await rtsp_info(ctx, ip, port)
        if port == 631:
            try:
                return await ipp_info(ctx, ip, port)
            except ERRORS:
                return await _http_port(ctx, ip, port, False)
        if port in TLS_PORTS:
            return await _http_port(ctx, ip, port, True)
        if port == 25 or port == 587:
            return await smtp_info(ctx, ip, port)
        if port == 53:
            try:
                return await dns_info(ctx, ip, port)
            except (*ERRORS, asyncio.IncompleteReadError):
                return await generic_info(ctx, ip, port)
        if port in HTTP_PORTS:
            return await _http_port(ctx, ip, port, False)
        return await generic_info(ctx, ip, port)
    except ERRORS as exc:
        return {"service": SERVICE_NAMES.get(port, "unknown"), "product": "", "version": "",
                "banner": "", "error": f"{type(exc).__name__}: {exc}"[:200]}
