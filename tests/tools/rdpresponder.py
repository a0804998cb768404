"""A small RDP server for the tests: answers the X.224 Connection Request by selecting CredSSP
(HYBRID), does TLS with a throwaway certificate, and answers the client's TSRequest (NTLMSSP
NEGOTIATE) with a TSRequest carrying an NTLMSSP CHALLENGE whose version says what a Windows
release says. It never completes authentication. [MS-RDPBCGR] 2.2.1.2, [MS-CSSP] 2.2.1.

    python3 rdpresponder.py --build 26100 --name RDP-PC --cert C --key K [--port 3389]
"""

from __future__ import annotations

import argparse
import socket
import ssl
import struct
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from smbresponder import challenge, der  # noqa: E402


def confirm() -> bytes:
    neg = struct.pack("<BBHI", 0x02, 0x1F, 8, 0x2)  # RDP_NEG_RSP, selected PROTOCOL_HYBRID
    x224 = bytes([6 + len(neg), 0xD0, 0, 0, 0x12, 0x34, 0]) + neg
    return struct.pack(">BBH", 3, 0, 4 + len(x224)) + x224


def ts_request(token: bytes) -> bytes:
    body = der(0xA0, der(0x02, b"\x06")) + der(0xA1, der(0x30, der(0x30, der(0xA0, der(0x04,
                                                                                      token)))))
    return der(0x30, body)


def serve(conn: socket.socket, ctx: ssl.SSLContext, a: argparse.Namespace) -> None:
    try:
        conn.settimeout(10)
        hdr = conn.recv(4)
        if len(hdr) < 4 or hdr[0] != 3:
            return
        n = struct.unpack(">H", hdr[2:4])[0]
        rest = b""
        while len(rest) < n - 4:
            more = conn.recv(n - 4 - len(rest))
            if not more:
                return
            rest += more
        conn.sendall(confirm())
        tls = ctx.wrap_socket(conn, server_side=True)
        data = tls.recv(4096)
        if b"NTLMSSP\x00\x01" in data:
            tls.sendall(ts_request(challenge(a.major, a.minor, a.build, a.name, a.domain,
                                             a.dns)))
        tls.recv(4096)
    except (OSError, ssl.SSLError):
        pass
    finally:
        conn.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", type=int, required=True)
    ap.add_argument("--major", type=int, default=10)
    ap.add_argument("--minor", type=int, default=0)
    ap.add_argument("--name", default="RDP-TEST")
    ap.add_argument("--domain", default="WORKGROUP")
    ap.add_argument("--dns", default="office.test")
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--bind", default="0.0.0.0")
    ap.add_argument("--port", type=int, default=3389)
    a = ap.parse_args()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(a.cert, a.key)
    srv = socket.create_server((a.bind, a.port))
    while True:
        conn, _ = srv.accept()
        threading.Thread(target=serve, args=(conn, ctx, a), daemon=True).start()


if __name__ == "__main__":
    main()
