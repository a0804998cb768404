"""Factory-default credential checks (3-②, 4-②). Opt-in per device class; only the defaults the
catalog lists for the fingerprinted vendor/model; one attempt per credential; stop at the first
sign of a lockout. A password is never stored or logged: evidence names the catalog entry.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.probe import udp
from agent.probe.gate import Gate
from agent.probe.net import read_until_idle
from agent.probe.services import ERRORS, http_get, strip_telnet

PACKAGED = Path(__file__).resolve().parent.parent.parent / "appliance" / "data" / \
    "default-credentials.json"
CLASSES = ("router", "ap", "printer", "camera", "nas", "pc", "other")


@dataclass(frozen=True, slots=True)
class Cred:
    id: str
    vendor: str
    model: str  # regex over the model, "" for any model of the vendor
    protocol: str  # http-basic | http-form | telnet | ssh | ftp | snmp-write
    username: str
    password: str
    form: dict[str, str] | None = None


def load(path: Path | None = None) -> list[Cred]:
    doc = json.loads((path or PACKAGED).read_text(encoding="utf-8"))
    return [Cred(e["id"], e["vendor"], e.get("model", ""), e["protocol"], e.get("username", ""),
                 e.get("password", ""), e.get("form")) for e in doc["entries"]]


def vendors(creds: list[Cred]) -> list[str]:
    return sorted({c.vendor for c in creds}, key=len, reverse=True)


def candidates(creds: list[Cred], vendor: str, model: str) -> list[Cred]:
    v = re.sub(r"[^a-z0-9]", "", vendor.lower())
    out = []
    for c in creds:
        cv = re.sub(r"[^a-z0-9]", "", c.vendor.lower())
        if not v or not cv or (cv not in v and v not in cv):
            continue
        if c.model and not re.search(c.model, model or "", re.I):
            continue
        out.append(c)
    return out


LOCKOUT = re.compile("lock|too many|try again later|blocked|ロック".encode(), re.I)


async def try_http_basic(ctx: Gate, ip: str, port: int, tls: bool, c: Cred, path: str = "/"
                         ) -> str:
    tok = base64.b64encode(f"{c.username}:{c.password}".encode()).decode()
    res = await http_get(ctx, ip, port, tls, path=path, extra=f"Authorization: Basic {tok}\r\n")
    if res["status"] in (423, 429) or LOCKOUT.search(res["body"][:4096]):
        return "lockout"
    return "success" if 200 <= res["status"] < 400 else "fail"


async def try_http_form(ctx: Gate, ip: str, port: int, tls: bool, c: Cred) -> str:
    f = c.form or {}
    from urllib.parse import urlencode
    body = urlencode({f.get("user_field", "username"): c.username,
                      f.get("pass_field", "password"): c.password}).encode()
    res = await http_get(ctx, ip, port, tls, path=f.get("path", "/login"), method="POST",
                         body=body, extra="Content-Type: application/x-www-form-urlencoded\r\n")
    if res["status"] in (423, 429) or LOCKOUT.search(res["body"][:4096]):
        return "lockout"
    ok = re.search(f.get("success", "logout"), res["body"][:65536].decode("utf-8", "replace"))
    return "success" if ok and res["status"] < 400 else "fail"


async def try_telnet(ctx: Gate, ip: str, port: int, c: Cred) -> str:
    rt = ctx.settings.read_timeout_s
    async with ctx.stream(ip, port) as (r, w):
        async def until(pattern: bytes) -> bytes:
            buf = b""
            for _ in range(6):
                data = await read_until_idle(r, rt)
                if not data:
                    break
                text, reply = strip_telnet(data)
                if reply:
                    w.write(reply)
                    await w.drain()
                buf += text
                if re.search(pattern, buf, re.I):
                    break
            return buf
        await until(rb"login|user(name)?\s*:")
        w.write(c.username.encode() + b"\r\n")
        await w.drain()
        await until(rb"password\s*:")
        w.write(c.password.encode() + b"\r\n")
        await w.drain()
        after = await until(rb"[#$>]\s*$|incorrect|fail|denied|invalid|login\s*:")
    if LOCKOUT.search(after):
        return "lockout"
    if re.search(rb"incorrect|fail|denied|invalid|login\s*:", after, re.I):
        return "fail"
    return "success" if re.search(rb"[#$>]\s*$", after.rstrip() + b" ") else "fail"


async def try_ftp(ctx: Gate, ip: str, port: int, c: Cred) -> str:
    rt = ctx.settings.read_timeout_s
    async with ctx.stream(ip, port) as (r, w):
        await read_until_idle(r, rt)
        w.write(f"USER {c.username}\r\n".encode())
        await w.drain()
        await read_until_idle(r, rt)
        w.write(f"PASS {c.password}\r\n".encode())
        await w.drain()
        ans = await read_until_idle(r, rt)
    if ans.startswith(b"421") or LOCKOUT.search(ans):
        return "lockout"
    return "success" if ans.startswith(b"230") else "fail"


async def try_ssh(ctx: Gate, ip: str, port: int, c: Cred) -> str:
    """OpenSSH's client with SSH_ASKPASS: one password prompt, no key, no agent."""
    exe = shutil.which("ssh")
    if exe is None:
        return "skipped"
    with tempfile.TemporaryDirectory() as d:
        askpass = Path(d) / "askpass"
        askpass.write_text("#!/bin/sh\nprintf '%s\\n' \"$OG_SECRET\"\n")
        askpass.chmod(0o700)
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "SSH_ASKPASS": str(askpass),
               "SSH_ASKPASS_REQUIRE": "force", "DISPLAY": "none", "OG_SECRET": c.password,
               "HOME": d}
        code, err = await ctx.run_client(ip, [
            exe, "-F", "/dev/null", "-p", str(port), "-l", c.username,
            "-o", "StrictHostKeyChecking=no", "-o", f"UserKnownHostsFile={d}/kh",
            "-o", "PreferredAuthentications=password,keyboard-interactive",
            "-o", "NumberOfPasswordPrompts=1", "-o", "PubkeyAuthentication=no",
            "-o", "ConnectTimeout=5", "-o", "IdentityAgent=none", ip, "exit 0"], env, 20)
    if code is None:
        return "fail"
    if code == 0:
        return "success"
    return "lockout" if LOCKOUT.search(err) else "fail"


async def check_device(ctx: Gate, ip: str, ports: dict[int, dict[str, Any]], cands: list[Cred],
                       pause_s: float = 1.0) -> dict[str, Any]:
    """Try each candidate once on the service it names; stop at a success or a lockout."""
    attempts: list[dict[str, str]] = []
    http_ports = [p for p, v in ports.items() if v.get("service") in ("http", "https")]
    for c in cands:
        port, tls = 0, False
        if c.protocol.startswith("http") and http_ports:
            port = http_ports[0]
            tls = ports[port]["service"] == "https"
            if c.protocol == "http-basic" and not ports[port].get("http", {}).get("realm"):
                continue
        elif c.protocol == "telnet" and 23 in ports:
            port = 23
        elif c.protocol == "ftp" and 21 in ports:
            port = 21
        elif c.protocol == "ssh" and 22 in ports:
            port = 22
        elif c.protocol != "snmp-write":
            continue
        try:
            if c.protocol == "http-basic":
                out = await try_http_basic(ctx, ip, port, tls, c)
            elif c.protocol == "http-form":
                out = await try_http_form(ctx, ip, port, tls, c)
            elif c.protocol == "telnet":
                out = await try_telnet(ctx, ip, port, c)
            elif c.protocol == "ftp":
                out = await try_ftp(ctx, ip, port, c)
            elif c.protocol == "ssh":
                out = await try_ssh(ctx, ip, port, c)
            else:
                out = "success" if await udp.snmp_writable(ctx, ip, c.password) else "fail"
        except ERRORS:
            out = "error"
        attempts.append({"credential": c.id, "protocol": c.protocol, "username": c.username,
                         "port": str(port or 161), "result": out})
        if out in ("success", "lockout"):
            break
        await asyncio.sleep(pause_s)
    return {"attempts": attempts,
            "success": [a for a in attempts if a["result"] == "success"],
            "lockout": any(a["result"] == "lockout" for a in attempts)}
