"""A small SMB2 server for the tests: answers NEGOTIATE (dialect 3.0.2) and SESSION_SETUP with an
SPNEGO-wrapped NTLMSSP CHALLENGE whose version structure and target info say what a Windows
release says (NTLM 10.0 and the build number; NetBIOS and DNS names). It never completes
authentication. Written from [MS-SMB2] and [MS-NLMP], independently of agent/probe/smb.py.

    python3 smbresponder.py --build 19045 --name RENTAL-PC-01 [--bind 0.0.0.0] [--port 445]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import struct
import time


def der(tag: int, body: bytes) -> bytes:
    if len(body) < 128:
        return bytes([tag, len(body)]) + body
    n = len(body).to_bytes(2, "big")
    return bytes([tag, 0x82]) + n + body


def header(command: int, status: int, msg_id: int, session: int) -> bytes:
    # ProtocolId, StructureSize, CreditCharge, Status, Command, CreditResponse, Flags
    # (SERVER_TO_REDIR), NextCommand, MessageId, ProcessId, TreeId, SessionId, Signature
    return (b"\xfeSMB" + struct.pack("<HH", 64, 0) + struct.pack("<I", status)
            + struct.pack("<HHI", command, 1, 1) + struct.pack("<I", 0)
            + struct.pack("<Q", msg_id) + struct.pack("<II", 0xFEFF, 0)
            + struct.pack("<Q", session) + bytes(16))


def av(av_id: int, value: bytes) -> bytes:
    return struct.pack("<HH", av_id, len(value)) + value


def challenge(major: int, minor: int, build: int, name: str, domain: str, dns: str) -> bytes:
    u = lambda s: s.encode("utf-16-le")  # noqa: E731
    filetime = int((time.time() + 11644473600) * 10_000_000)
    info = (av(2, u(domain)) + av(1, u(name)) + av(4, u(dns)) + av(3, u(f"{name}.{dns}".lower()))
            + av(5, u(dns)) + av(7, struct.pack("<Q", filetime)) + av(0, b""))
    target = u(domain)
    flags = 0xE2898215
    fixed = 56
    msg = (b"NTLMSSP\x00" + struct.pack("<I", 2)
           + struct.pack("<HHI", len(target), len(target), fixed)
           + struct.pack("<I", flags) + os.urandom(8) + bytes(8)
           + struct.pack("<HHI", len(info), len(info), fixed + len(target))
           + struct.pack("<BBH", major, minor, build) + b"\x00\x00\x00\x0f")
    assert len(msg) == fixed
    return msg + target + info


def neg_token_resp(token: bytes) -> bytes:
    ntlm_oid = der(0x06, bytes.fromhex("2b06010401823702020a"))
    body = (der(0xA0, der(0x0A, b"\x01"))  # accept-incomplete
            + der(0xA1, ntlm_oid) + der(0xA2, der(0x04, token)))
    return der(0xA1, der(0x30, body))


class Server:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args

    async def handle(self, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        a = self.args
        try:
            while True:
                n = struct.unpack(">I", await r.readexactly(4))[0] & 0xFFFFFF
                msg = await r.readexactly(n)
                if msg[:4] != b"\xfeSMB":
                    break
                command = struct.unpack_from("<H", msg, 12)[0]
                msg_id = struct.unpack_from("<Q", msg, 24)[0]
                if command == 0:
                    body = struct.pack("<HHHH", 65, 1, 0x0302, 0) + b"OGTEST-SERVERGUI"
                    body += struct.pack("<IIII", 0x7, 8 << 20, 8 << 20, 8 << 20)
                    now = int((time.time() + 11644473600) * 10_000_000)
                    body += struct.pack("<QQ", now, 0) + struct.pack("<HHI", 0, 0, 0)
                    out = header(0, 0, msg_id, 0) + body
                elif command == 1:
                    blob = neg_token_resp(challenge(a.major, a.minor, a.build, a.name,
                                                    a.domain, a.dns))
                    body = struct.pack("<HHHH", 9, 0, 64 + 8, len(blob)) + blob
                    out = header(1, 0xC0000016, msg_id, 0x1000_0000_0001) + body
                else:
                    break
                w.write(struct.pack(">I", len(out)) + out)
                await w.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            w.close()


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", type=int, required=True)
    ap.add_argument("--major", type=int, default=10)
    ap.add_argument("--minor", type=int, default=0)
    ap.add_argument("--name", default="DESKTOP-TEST")
    ap.add_argument("--domain", default="WORKGROUP")
    ap.add_argument("--dns", default="office.test")
    ap.add_argument("--bind", default="0.0.0.0")
    ap.add_argument("--port", type=int, default=445)
    args = ap.parse_args()
    srv = await asyncio.start_server(Server(args).handle, args.bind, args.port)
    async with srv:
        await srv.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
