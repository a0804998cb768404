"""Limits applied before any route runs: request body size, Host allow-list, cross-site
form posts, and a last-resort error page that still carries the security headers.

A plain ASGI wrapper (no per-request body copy). The body cap is checked twice: a declared
`Content-Length` over the cap is answered 413 before one byte is read, and a chunked body is
counted as it streams and cut off at the cap, so nothing larger than the cap is ever buffered
or parsed — and that happens before the session check, so an anonymous client cannot make
the web process hold a 400 MB JSON document to be told 401.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import socket
import time
from collections.abc import Iterable
from typing import Any

log = logging.getLogger("officeguard.web")
BODY_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


class BodyTooLarge(Exception):
    pass


def _is_local_address(host: str) -> bool:
    """An IP literal that is one of this machine's addresses: binding to it succeeds only then
    (no packet is sent)."""
    try:
        ip = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    fam = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
    try:
        with socket.socket(fam, socket.SOCK_DGRAM) as s:
            s.bind((str(ip), 0))
        return True
    except OSError:
        return False


class HostCheck:
    """Names the dashboard answers to: the configured ones, this machine's names, and literal
    addresses of this machine (checked when first seen, remembered for a minute, so a new DHCP
    lease does not lock the manager out)."""

    def __init__(self, names: Iterable[str]) -> None:
        # no DNS lookup here (getfqdn): without a resolver it would stall the start-up
        hn = socket.gethostname().lower()
        self.names = {n.lower().rstrip(".") for n in names if n} | {
            "localhost", hn, f"{hn}.local"}
        self._seen: dict[str, tuple[float, bool]] = {}

    def ok(self, host_header: str) -> bool:
        host = host_header.strip().lower()
        if host.startswith("["):  # [v6]:port
            host = host[1:host.find("]")] if "]" in host else host
        elif host.count(":") == 1:
            host = host.split(":", 1)[0]
        host = host.rstrip(".")
        if not host or len(host) > 253:
            return False
        if host in self.names:
            return True
        hit = self._seen.get(host)
        now = time.monotonic()
        if hit and now - hit[0] < 60:
            return hit[1]
        good = _is_local_address(host)
        if len(self._seen) > 1024:
            self._seen.clear()
        self._seen[host] = (now, good)
        return good


def _cross_site(hdrs: dict[bytes, bytes], host: str) -> bool:
    """Whether a browser says this request comes from another site. `Sec-Fetch-Site` is sent
    by current browsers whatever the referrer policy (ours is no-referrer, which makes them
    send `Origin: null` even for our own forms); without it, a foreign or null `Origin` is
    cross-site. Clients that send neither (scripts, curl) are not browsers riding a session."""
    sfs = hdrs.get(b"sec-fetch-site")
    if sfs is not None:
        return sfs.lower() not in (b"same-origin", b"none")
    origin = hdrs.get(b"origin")
    if origin is None:
        return False
    o = origin.decode("latin-1")
    netloc = o.split("://", 1)[1] if "://" in o else ""
    return o == "null" or netloc.lower() != host.lower()


async def _json(send: Any, status: int, detail: str, extra: list[tuple[bytes, bytes]]) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"), *extra]})
    await send({"type": "http.response.body", "body": body})


class Limits:
    """Wraps the app: Host allow-list, body cap, same-origin form posts, errors as 500 with
    the security headers."""

    def __init__(self, inner: Any, *, max_body: int, hosts: HostCheck | None,
                 headers: list[tuple[bytes, bytes]]) -> None:
        self.inner = inner
        self.max_body = max_body
        self.hosts = hosts
        self.headers = headers

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.inner(scope, receive, send)
            return
        hdrs = {k.lower(): v for k, v in scope.get("headers", [])}
        extra = list(self.headers)
        if self.hosts is not None:
            host = hdrs.get(b"host", b"").decode("latin-1")
            if not self.hosts.ok(host):
                await _json(send, 400, "unknown host name; use the dashboard's address", extra)
                return
            if scope["method"] in BODY_METHODS and _cross_site(hdrs, host):
                # a form posted from another site (login CSRF, setup from a web page)
                await _json(send, 403, "cross-site request refused", extra)
                return
        if scope["method"] in BODY_METHODS:
            declared = hdrs.get(b"content-length")
            if declared is not None:
                try:
                    n = int(declared)
                except ValueError:
                    n = -1
                if n < 0 or n > self.max_body:
                    await _json(send, 413 if n > 0 else 400, "request body too large"
                                if n > 0 else "bad Content-Length", extra)
                    return
        received = 0
        started = too_large = False

        async def counted() -> Any:
            nonlocal received, too_large
            msg = await receive()
            if msg["type"] == "http.request":
                received += len(msg.get("body", b""))
                if received > self.max_body:
                    too_large = True
                    raise BodyTooLarge()
            return msg

        async def tracking(message: Any) -> None:
            nonlocal started
            if too_large:  # whatever the app makes of the cut-off body, the answer is 413
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.inner(scope, counted, tracking)
        except BodyTooLarge:
            pass
        except Exception:
            if too_large:
                pass
            else:
                log.exception("unhandled error on %s %s", scope["method"], scope["path"])
                if not started:
                    await _json(send, 500, "internal error (logged)", extra)
        if too_large and not started:
            await _json(send, 413, "request body too large", extra)


# -- slow clients ------------------------------------------------------------------------------
HEADER_TIMEOUT_S = 10.0  # a request line and its headers must arrive within this
BODY_TIMEOUT_S = 30.0  # and its body (at most max_body_kib) within this after them


def slow_client_protocol() -> type:
    """uvicorn's h11 protocol with deadlines: a client that dribbles its headers or body (a
    "slowloris") is disconnected instead of holding a connection for ever. Loaded lazily:
    only the served process needs uvicorn's internals."""
    import h11
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class DeadlineH11(H11Protocol):
        _deadline: Any = None

        def _arm(self, seconds: float) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
            self._deadline = self.loop.call_later(seconds, self._expire)

        def _expire(self) -> None:
            self._deadline = None
            state = self.conn.their_state
            if (state is h11.IDLE or state is h11.SEND_BODY) and \
                    not self.transport.is_closing():
                log.info("closing a connection from %s: request not complete in time",
                         self.client[0] if self.client else "?")
                self.transport.close()

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._arm(HEADER_TIMEOUT_S)

        def handle_events(self) -> None:
            before = self.conn.their_state
            super().handle_events()
            after = self.conn.their_state
            if before is h11.IDLE and after is h11.SEND_BODY:
                self._arm(BODY_TIMEOUT_S)
            elif after is not h11.IDLE and after is not h11.SEND_BODY and \
                    self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing():
                self._arm(HEADER_TIMEOUT_S)  # the next request on this connection

        def connection_lost(self, exc: Exception | None) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None
            super().connection_lost(exc)

    return DeadlineH11
