"""The facility's web site (2-③): TLS handshake and chain, expiry, host name, protocol version,
HTTP → HTTPS redirect, and forms asking for personal data that post over plain HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin, urlsplit

from cryptography import x509

from agent.probe.gate import Gate, insecure_tls
from agent.probe.scope import Resolver, system_resolver
from agent.probe.services import ERRORS, http_get

PERSONAL = ("name", "mail", "tel", "phone", "address", "addr", "zip", "birth", "password",
            "kana", "company", "氏名", "名前", "住所", "電話", "メール")


class _Forms(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[dict[str, Any]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: (v or "") for k, v in attrs}
        if tag == "form":
            self.forms.append({"action": a.get("action", ""), "personal": []})
        elif tag in ("input", "textarea", "select") and self.forms:
            label = " ".join((a.get("name", ""), a.get("id", ""), a.get("type", ""),
                              a.get("autocomplete", ""))).lower()
            if any(p in label for p in PERSONAL) or a.get("type") in ("email", "tel",
                                                                       "password"):
                self.forms[-1]["personal"].append(a.get("name") or a.get("type") or tag)


def forms_over_http(page_url: str, body: bytes) -> list[dict[str, Any]]:
    """Forms with personal-data fields whose submission would travel over plain HTTP."""
    p = _Forms()
    with contextlib.suppress(Exception):
        p.feed(body[:1_000_000].decode("utf-8", "replace"))
    bad = []
    for f in p.forms:
        target = urljoin(page_url, f["action"] or page_url)
        if f["personal"] and urlsplit(target).scheme == "http":
            bad.append({"action": target[:300], "fields": f["personal"][:10]})
    return bad


def verifying_context(ca_file: str = "") -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=ca_file or None)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


async def _handshake(ctx: Gate, ip: str, port: int, host: str, sslctx: ssl.SSLContext
                     ) -> tuple[str, bytes | None]:
    async with ctx.stream(ip, port, True, server_hostname=host, ssl_ctx=sslctx) as (_r, w):
        obj = w.get_extra_info("ssl_object")
        return (obj.version() or "", obj.getpeercert(binary_form=True)) if obj else ("", None)


async def check(ctx: Gate, url: str, ca_file: str = "", now: datetime | None = None,
                resolver: Resolver = system_resolver) -> dict[str, Any]:
    now = now or datetime.now(UTC)
    u = urlsplit(url)
    host, addrs = ctx.url_target(url, resolver)  # OutOfScope before any packet
    ip = addrs[0]
    ev: dict[str, Any] = {"url": url, "host": host, "ip": ip, "problems": []}
    problems: list[str] = ev["problems"]
    https_url = url if u.scheme == "https" else url.replace("http://", "https://", 1)
    hu = urlsplit(https_url)
    port = hu.port or 443
    if u.scheme == "http":
        problems.append("the configured address is plain http")
    # 1. a verifying handshake: chain, expiry, host name, TLS 1.2+
    try:
        version, _ = await _handshake(ctx, ip, port, host, verifying_context(ca_file))
        ev["protocol"] = version
        ev["verified"] = True
    except ssl.SSLCertVerificationError as exc:
        ev["verified"] = False
        ev["verify_error"] = str(exc.verify_message or exc.reason)[:200]
        problems.append(f"certificate not valid: {ev['verify_error']}")
    except ERRORS as exc:
        ev["verified"] = False
        ev["verify_error"] = f"{type(exc).__name__}: {exc}"[:200]
        problems.append(f"no HTTPS: {ev['verify_error']}")
    # 2. the certificate as served, whatever the chain
    with contextlib.suppress(*ERRORS):
        version, der = await _handshake(ctx, ip, port, host, insecure_tls())
        ev.setdefault("protocol", version)
        if der:
            cert = x509.load_der_x509_certificate(der)
            na = cert.not_valid_after_utc
            ev["not_after"] = na.isoformat()
            ev["issuer"] = cert.issuer.rfc4514_string()[:200]
            ev["subject"] = cert.subject.rfc4514_string()[:200]
            ev["days_left"] = (na - now).days
            if na < now:
                problems.append(f"certificate expired on {na.date().isoformat()}")
            elif (na - now).days < 21:
                ev["expiring_soon"] = True
    if ev.get("protocol") in ("TLSv1", "TLSv1.1", "SSLv3"):
        problems.append(f"negotiates {ev['protocol']}")
    # 3. does the server still accept TLS 1.0/1.1?
    legacy = insecure_tls()
    legacy.maximum_version = ssl.TLSVersion.TLSv1_1
    try:
        old, _ = await _handshake(ctx, ip, port, host, legacy)
        ev["legacy_tls_accepted"] = old
        problems.append(f"still accepts {old}")
    except ERRORS:
        ev["legacy_tls_accepted"] = ""
    # 4. http:// redirects to https://
    with contextlib.suppress(*ERRORS):
        res = await http_get(ctx, ip, u.port if u.scheme == "http" and u.port else 80, False,
                             path=u.path or "/", host=host)
        loc = res["headers"].get("location", "")
        ev["http_status"] = res["status"]
        ev["redirects_to_https"] = res["status"] in (301, 302, 303, 307, 308) and \
            urlsplit(urljoin(f"http://{host}/", loc)).scheme == "https"
        if not ev["redirects_to_https"]:
            problems.append("http:// does not redirect to https://")
            bad = forms_over_http(f"http://{host}{u.path or '/'}", res["body"])
            if bad:
                ev["forms_over_http"] = bad
                problems.append("a form asks for personal data over plain http")
    # 5. forms on the HTTPS page that post to http://
    with contextlib.suppress(*ERRORS):
        res = await http_get(ctx, ip, port, True, path=hu.path or "/", host=host)
        bad = forms_over_http(https_url, res["body"])
        if bad:
            ev.setdefault("forms_over_http", []).extend(bad)
            problems.append("a form posts personal data to an http:// address")
    ev["result"] = "fail" if problems else ("warn" if ev.get("expiring_soon") else "pass")
    return ev


async def check_all(ctx: Gate, urls: list[str], ca_file: str = "",
                    resolver: Resolver = system_resolver) -> list[dict[str, Any]]:
    from agent.probe.scope import OutOfScope

    async def one(url: str) -> dict[str, Any]:
        try:
            return await check(ctx, url, ca_file, resolver=resolver)
        except OutOfScope as exc:
            ctx.refused.append(str(exc))
            return {"url": url, "result": "unknown", "problems": [], "refused": str(exc)}

    return list(await asyncio.gather(*(one(u) for u in urls)))
