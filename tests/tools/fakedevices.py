"""Small device responders for the probe testbed, run inside a namespace by the tests.

The testbed uses real Debian daemons where they exist (lighttpd, sshd, snmpd, busybox telnetd);
these cover what has no light Debian daemon: an IPP printer (CUPS' ippeveprinter needs avahi), a
raw 9100 port, an RTSP camera, a UPnP Internet Gateway Device with port mappings, and the login
program behind busybox telnetd.

    python -m tests.tools.fakedevices ipp --model "Brother HL-L2350DW series" --firmware 1.05
    python -m tests.tools.fakedevices raw9100
    python -m tests.tools.fakedevices rtsp --server "Dahua Rtsp Server/2.0" [--auth] [--close]
    python -m tests.tools.fakedevices http10 --server "Boa/0.94.14rc21" --title "NAS Login"
    python -m tests.tools.fakedevices banner --text "SSH-2.0-OpenSSH_7.4" --delay 3
    python -m tests.tools.fakedevices igd --ip 192.0.2.1 --map 192.0.2.20:9100
    python -m tests.tools.fakedevices login --user root --password vizxv   (telnetd -l)
"""

from __future__ import annotations

import argparse
import socket
import socketserver
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

sys.path.insert(0, __file__.rsplit("/tests/", 1)[0])
from agent.probe import ipp  # noqa: E402


class Threaded(socketserver.ThreadingMixIn, socketserver.TCPServer):
    allow_reuse_address = True
    daemon_threads = True


def serve_ipp(model: str, firmware: str, port: int) -> None:
    class H(BaseHTTPRequestHandler):
        server_version = "ipp-test/1.0"
        sys_version = ""

        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            rid = int.from_bytes(body[4:8], "big") if len(body) >= 8 else 1
            out = ipp.encode_response(0, rid, {
                "printer-make-and-model": [model],
                "printer-firmware-string-version": [firmware],
                "printer-name": ["office-printer"]})
            self.send_response(200)
            self.send_header("Content-Type", "application/ipp")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        def log_message(self, *a: object) -> None:
            pass

    HTTPServer(("0.0.0.0", port), H).serve_forever()  # noqa: S104


def serve_raw9100(port: int) -> None:
    class H(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            self.request.settimeout(10)
            try:
                while self.request.recv(4096):
                    pass
            except OSError:
                pass

    Threaded(("0.0.0.0", port), H).serve_forever()  # noqa: S104


def rtsp_server(server: str, auth: bool, port: int = 554, close: bool = False,
                bind: str = "0.0.0.0") -> Threaded:  # noqa: S104
    """A camera's RTSP service. auth: DESCRIBE wants Digest credentials. close: the connection
    ends after every answer, as many embedded servers do (the next request needs a new one)."""
    class H(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            while True:
                lines = []
                while True:
                    line = self.rfile.readline()
                    if not line:
                        return
                    if line in (b"\r\n", b"\n"):
                        break
                    lines.append(line.decode("latin-1").strip())
                if not lines:
                    return
                method = lines[0].split(" ")[0]
                cseq = next((v.split(":", 1)[1].strip() for v in lines
                             if v.lower().startswith("cseq")), "0")
                if method == "OPTIONS":
                    resp = (f"RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\nServer: {server}\r\n"
                            "Public: OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN\r\n\r\n")
                elif method == "DESCRIBE" and auth:
                    resp = (f"RTSP/1.0 401 Unauthorized\r\nCSeq: {cseq}\r\nServer: {server}\r\n"
                            'WWW-Authenticate: Digest realm="camera", nonce="0"\r\n\r\n')
                elif method == "DESCRIBE":
                    sdp = "v=0\r\no=- 0 0 IN IP4 0.0.0.0\r\ns=live\r\nm=video 0 RTP/AVP 96\r\n"
                    resp = (f"RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\nServer: {server}\r\n"
                            f"Content-Type: application/sdp\r\nContent-Length: {len(sdp)}\r\n"
                            f"\r\n{sdp}")
                else:
                    resp = f"RTSP/1.0 405 Method Not Allowed\r\nCSeq: {cseq}\r\n\r\n"
                self.wfile.write(resp.encode())
                if close:
                    return

    return Threaded((bind, port), H)


def http10_server(server: str, title: str, port: int = 80, bind: str = "0.0.0.0"  # noqa: S104
                  ) -> Threaded:
    """An old embedded web server: reads the request line only, answers HTTP/1.0 without a
    length and closes at once, the rest of the request unread (the kernel resets it)."""
    class H(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            self.rfile.readline()
            date = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime())
            self.wfile.write((f"HTTP/1.0 200 OK\r\nDate: {date}\r\nServer: {server}\r\n"
                              "Content-Type: text/html\r\n\r\n"
                              f"<html><head><title>{title}</title></head><body>"
                              "<form><input type=password name=pw></form></body></html>"
                              ).encode())

    return Threaded((bind, port), H)


def banner_server(text: str, delay: float, port: int, bind: str = "0.0.0.0"  # noqa: S104
                  ) -> Threaded:
    """A service that greets DELAY seconds after the connection opens, whatever it is sent."""

    class H(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            time.sleep(delay)
            try:
                self.request.sendall(text.encode() + b"\r\n")
                self.request.settimeout(10)
                self.request.recv(4096)
            except OSError:
                pass

    return Threaded((bind, port), H)


DESC = """<?xml version="1.0"?>
<root xmlns="urn:schemas-upnp-org:device-1-0"><specVersion><major>1</major><minor>0</minor>
</specVersion><device><deviceType>urn:schemas-upnp-org:device:InternetGatewayDevice:1</deviceType>
<friendlyName>office router</friendlyName><manufacturer>TP-LINK</manufacturer>
<modelName>TL-WR841N</modelName><modelNumber>14.0</modelNumber><deviceList><device>
<deviceType>urn:schemas-upnp-org:device:WANDevice:1</deviceType><deviceList><device>
<deviceType>urn:schemas-upnp-org:device:WANConnectionDevice:1</deviceType><serviceList><service>
<serviceType>urn:schemas-upnp-org:service:WANIPConnection:1</serviceType>
<serviceId>urn:upnp-org:serviceId:WANIPConn1</serviceId><controlURL>/ctl/IPConn</controlURL>
<SCPDURL>/scpd.xml</SCPDURL></service></serviceList></device></deviceList></device></deviceList>
</device></root>"""


def serve_igd(ip: str, maps: list[str], http_port: int) -> None:
    def ssdp() -> None:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((ip, 1900))  # answers from its LAN address, as miniupnpd does
        while True:
            data, addr = s.recvfrom(2048)
            if data.startswith(b"M-SEARCH"):
                s.sendto((f"HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age=120\r\n"
                          f"LOCATION: http://{ip}:{http_port}/rootDesc.xml\r\n"
                          "SERVER: Linux/5.10 UPnP/1.1 TestIGD/1.0\r\n"
                          "ST: upnp:rootdevice\r\nUSN: uuid:og-test::upnp:rootdevice\r\n\r\n"
                          ).encode(), addr)

    threading.Thread(target=ssdp, daemon=True).start()
    entries = []
    for m in maps:
        host, port = m.split(":")
        entries.append((port, "TCP", port, host))

    class H(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            body = DESC.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:  # noqa: N802
            req = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
            idx = int(req.split("<NewPortMappingIndex>")[1].split("<")[0])
            if idx >= len(entries):
                self.send_response(500)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            ext, proto, internal, client = entries[idx]
            body = ('<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/'
                    'envelope/"><s:Body><u:GetGenericPortMappingEntryResponse xmlns:u="urn:'
                    'schemas-upnp-org:service:WANIPConnection:1"><NewRemoteHost></NewRemoteHost>'
                    f'<NewExternalPort>{ext}</NewExternalPort><NewProtocol>{proto}</NewProtocol>'
                    f'<NewInternalPort>{internal}</NewInternalPort><NewInternalClient>{client}'
                    '</NewInternalClient><NewEnabled>1</NewEnabled><NewPortMappingDescription>'
                    'printer</NewPortMappingDescription><NewLeaseDuration>0</NewLeaseDuration>'
                    '</u:GetGenericPortMappingEntryResponse></s:Body></s:Envelope>').encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a: object) -> None:
            pass

    HTTPServer(("0.0.0.0", http_port), H).serve_forever()  # noqa: S104


def serve_website(cert: str, key: str, redirect: bool, form_http: bool) -> None:
    """A facility web site: HTTPS on 443 with the given certificate; port 80 redirects or not."""
    import ssl

    page = ("<html><head><title>Member registration</title></head><body><form method=post "
            f"action=\"{'http://www.facility.test/register' if form_http else '/register'}\">"
            "<input name=name><input type=email name=mail><button>send</button></form>"
            "</body></html>").encode()

    class H(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            if redirect and not isinstance(self.request, ssl.SSLSocket):
                self.send_response(301)
                self.send_header("Location", f"https://www.facility.test{self.path}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *a: object) -> None:
            pass

    class TS(socketserver.ThreadingMixIn, HTTPServer):
        daemon_threads = True

    plain = TS(("0.0.0.0", 80), H)  # noqa: S104
    threading.Thread(target=plain.serve_forever, daemon=True).start()
    tls = TS(("0.0.0.0", 443), H)  # noqa: S104
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    tls.socket = ctx.wrap_socket(tls.socket, server_side=True)
    tls.serve_forever()


def login(user: str, password: str) -> None:
    """The program busybox telnetd runs per connection (-l): a device's login prompt."""
    out = sys.stdout
    for _ in range(3):
        out.write("camera login: ")
        out.flush()
        u = sys.stdin.readline().strip()
        out.write("Password: ")
        out.flush()
        p = sys.stdin.readline().strip()
        if u == user and p == password:
            out.write("\r\nBusyBox v1.35.0 built-in shell (ash)\r\n# ")
            out.flush()
            sys.stdin.readline()
            return
        out.write("\r\nLogin incorrect\r\n")
    out.flush()


def main() -> None:
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("ipp")
    a.add_argument("--model", required=True)
    a.add_argument("--firmware", required=True)
    a.add_argument("--port", type=int, default=631)
    r = sub.add_parser("raw9100")
    r.add_argument("--port", type=int, default=9100)
    t = sub.add_parser("rtsp")
    t.add_argument("--server", required=True)
    t.add_argument("--auth", action="store_true")
    t.add_argument("--port", type=int, default=554)
    t.add_argument("--close", action="store_true")
    h10 = sub.add_parser("http10")
    h10.add_argument("--server", required=True)
    h10.add_argument("--title", required=True)
    h10.add_argument("--port", type=int, default=80)
    bn = sub.add_parser("banner")
    bn.add_argument("--text", required=True)
    bn.add_argument("--delay", type=float, default=0.0)
    bn.add_argument("--port", type=int, required=True)
    g = sub.add_parser("igd")
    g.add_argument("--ip", required=True)
    g.add_argument("--map", action="append", default=[])
    g.add_argument("--port", type=int, default=5000)
    w = sub.add_parser("website")
    w.add_argument("--cert", required=True)
    w.add_argument("--key", required=True)
    w.add_argument("--redirect", action="store_true")
    w.add_argument("--form-http", action="store_true")
    lg = sub.add_parser("login")
    lg.add_argument("--user", required=True)
    lg.add_argument("--password", required=True)
    args = p.parse_args()
    if args.cmd == "ipp":
        serve_ipp(args.model, args.firmware, args.port)
    elif args.cmd == "raw9100":
        serve_raw9100(args.port)
    elif args.cmd == "rtsp":
        rtsp_server(args.server, args.auth, args.port, args.close).serve_forever()
    elif args.cmd == "http10":
        http10_server(args.server, args.title, args.port).serve_forever()
    elif args.cmd == "banner":
        banner_server(args.text, args.delay, args.port).serve_forever()
    elif args.cmd == "igd":
        serve_igd(args.ip, args.map, args.port)
    elif args.cmd == "website":
        serve_website(args.cert, args.key, args.redirect, args.form_http)
    else:
        login(args.user, args.password)


if __name__ == "__main__":
    main()
