"""Probe parsers, rules and scheduling: pure functions, and loopback servers for the sockets."""

from __future__ import annotations

import contextlib
import json
import random
import socket
import struct
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest

from agent.probe import checks, fingerprint, firmware, ipp, snmp, udp, website
from agent.probe.jobs import Scheduler
from agent.probe.scope import OutOfScope, Scope
from agent.probe.services import strip_telnet
from appliance.config import Config, ConfigError
from appliance.store import Store
from tests.conftest import OFFICEGUARD, ROOT

DATA = ROOT / "tests" / "data"


@pytest.mark.parametrize(("a", "b", "want"), [
    ("1.4.35", "1.4.64", -1), ("1.4.69", "1.4.64", 1), ("2.0", "2.0.0", 0),
    ("Rev.14.01.38", "Rev.14.01.40", -1), ("1.0rc1", "1.0", -1), ("1.10", "1.9", 1),
    ("9.2p1", "9.8p1", -1), ("1.0.2a", "1.0.2", 1), ("V1.2.3 build 5", "1.2.3 build 4", 1),
    ("2020.79", "2022.83", -1), ("1.3.5a", "1.3.5", 1),
])
def test_version_comparison_copes_with_vendor_formats(a: str, b: str, want: int) -> None:
    assert firmware.compare(a, b) == want
    assert firmware.compare(b, a) == -want


def test_scope_refuses_outside_wide_and_names_resolving_outside() -> None:
    sc = Scope.parse(["192.0.2.0/28", "printer.example"])
    assert sc.allows("192.0.2.5") and not sc.allows("192.0.2.16")
    with pytest.raises(OutOfScope, match="outside the probe scope"):
        sc.check("198.51.100.1")
    assert sc.resolve("p.example", lambda n: ["192.0.2.9"]) == ["192.0.2.9"]
    with pytest.raises(OutOfScope, match="resolves to 203.0.113.7"):
        sc.resolve("p.example", lambda n: ["192.0.2.9", "203.0.113.7"])
    with pytest.raises(OutOfScope, match="wider than"):
        Scope.parse(["198.18.0.0/15"])  # the benchmarking range, 131,072 addresses
    with pytest.raises(OutOfScope, match="multicast"):
        Scope.parse(["224.0.0.0/24"])
    assert len(list(Scope.parse(["192.0.2.0/30"]).hosts())) == 2  # no network/broadcast


def test_snmp_request_decodes_and_garbage_is_refused() -> None:
    # a GetResponse built the way an agent builds it
    body = (snmp._int(77) + snmp._int(0) + snmp._int(0) + snmp._tlv(snmp.SEQUENCE, snmp._tlv(
        snmp.SEQUENCE, snmp._oid(snmp.SYS_DESCR) + snmp.encode_value("Brother NC-8300w"))))
    msg = snmp._tlv(snmp.SEQUENCE, snmp._int(1) + snmp._tlv(snmp.OCTETS, b"public")
                    + snmp._tlv(snmp.GET_RESPONSE, body))
    r = snmp.parse_response(msg)
    assert r.request_id == 77 and r.values == {snmp.SYS_DESCR: "Brother NC-8300w"}
    rng = random.Random(4)
    for _ in range(3000):
        junk = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 60)))
        cut = msg[:rng.randrange(len(msg))]
        for buf in (junk, cut):
            with contextlib.suppress(snmp.SnmpError):
                snmp.parse_response(buf)


def test_ipp_roundtrip_and_truncation() -> None:
    raw = ipp.encode_response(0, 9, {"printer-make-and-model": ["EPSON PX-M884F"],
                                     "printer-firmware-string-version": ["CX08K4"]})
    status, attrs = ipp.parse_response(raw)
    assert status == 0 and attrs["printer-make-and-model"] == ["EPSON PX-M884F"]
    for n in range(0, len(raw) - 1):
        with contextlib.suppress(ipp.IppError):
            ipp.parse_response(raw[:n])
    req = ipp.get_printer_attributes("ipp://192.0.2.20:631/ipp/print")
    assert req[2:4] == b"\x00\x0b" and req.endswith(b"\x03")


def test_mdns_parser_follows_pointers_and_stops_loops() -> None:
    q = udp.mdns_query(["_services._dns-sd._udp.local"])
    # an answer: PTR _ipp._tcp.local, name compressed to the question
    ans = (b"\xc0\x0c" + struct.pack(">HHIH", 12, 1, 120, 16)
           + b"\x04_ipp\x04_tcp\xc0\x23")
    msg = struct.pack(">HHHHHH", 0, 0x8400, 1, 1, 0, 0) + q[12:] + ans
    assert udp.parse_mdns(msg)["ptr"] == ["_ipp._tcp.local"]
    loop = struct.pack(">HHHHHH", 0, 0, 1, 0, 0, 0) + b"\xc0\x0c" + b"\x00\x0c\x00\x01"
    with pytest.raises(ValueError):
        udp.parse_mdns(loop)


def test_banner_fingerprints_in_nmaps_words() -> None:
    assert fingerprint.ssh("SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3") == fingerprint.Ident(
        "ssh", "OpenSSH", "9.2p1 Debian 2+deb12u3", "protocol 2.0")
    assert fingerprint.ssh("SSH-2.0-dropbear_2022.83").product == "Dropbear sshd"
    assert fingerprint.http_server("lighttpd/1.4.35") == ("lighttpd", "1.4.35")
    assert fingerprint.http_server("Apache/2.4.57 (Debian)") == ("Apache httpd", "2.4.57")
    assert fingerprint.http_server("Dahua Rtsp Server/2.0") == ("Dahua Rtsp Server", "2.0")
    assert fingerprint.ftp("220 (vsFTPd 3.0.3)") == fingerprint.Ident("ftp", "vsftpd", "3.0.3")
    text, reply = strip_telnet(b"\xff\xfd\x01\xff\xfb\x03login: ")
    assert text == b"login: " and reply == b"\xff\xfc\x01\xff\xfe\x03"
    assert fingerprint.html_title(b"<title>&lt;b&gt;Admin\n</title>") == "<b>Admin"


def test_forms_posting_personal_data_over_http() -> None:
    page = (b'<form action="http://x.example/r"><input name="mail"></form>'
            b'<form action="/search"><input name="q"></form>')
    bad = website.forms_over_http("https://x.example/", page)
    assert bad == [{"action": "http://x.example/r", "fields": ["mail"]}]
    assert website.forms_over_http("https://x.example/", b'<form><input type=email></form>') \
        == []


def test_jvn_feed_parses_and_hostile_feeds_are_refused() -> None:
    advs = firmware.parse_jvn((DATA / "myjvn-overview-test.rdf").read_bytes())
    assert [a.id for a in advs] == ["JVNDB-2099-000001", "JVNDB-2099-000002"]
    assert advs[0].cvss == 9.8
    with pytest.raises(firmware.CatalogError, match="DOCTYPE"):
        firmware.parse_jvn(b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>')
    with pytest.raises(firmware.CatalogError, match="not a JVN feed"):
        firmware.parse_jvn(b"not xml at all")


def test_catalog_validation_names_the_entry() -> None:
    with pytest.raises(firmware.CatalogError, match=r"entries\[0\]"):
        firmware.parse_catalog({"entries": [{"id": "x", "model": "(", "kind": "device"}]})
    as_of, entries = firmware.load_catalog(Path("/nonexistent"))
    assert as_of and any(e.id == "lighttpd" for e in entries)


def _host(**kw: Any) -> dict[str, Any]:
    h: dict[str, Any] = {"ip": "192.0.2.20", "mac": "", "ports": [],
                         "device": {"vendor": "Brother", "model": "HL", "firmware": "1.0",
                                    "class": "printer", "evidence": {}}}
    h.update(kw)
    return h


def test_checks_raise_each_weakness_with_its_measure_and_clear_the_rest() -> None:
    out = checks.Outcome()
    checks.host_checks(out, _host(ports=[
        {"port": 23, "proto": "tcp", "state": "open", "service": "telnet"},
        {"port": 21, "proto": "tcp", "state": "open", "service": "ftp", "ftp": {"anonymous": 1}},
        {"port": 554, "proto": "tcp", "state": "open", "service": "rtsp",
         "rtsp": {"unauthenticated": True}},
    ], firmware=[{"status": "unsafe", "kind": "software", "component": "lighttpd",
                  "installed": "1.4.35", "min_safe": "1.4.64", "latest": "", "eol": False}],
        baseline=[{"port": 23, "proto": "tcp"}]), 1.0, False)
    got = {(d.rule, d.measure, d.severity) for d in out.drafts}
    assert got == {("probe.exposed_service", "4-3", "high"),
                   ("probe.unauthenticated_stream", "4-2", "critical"),
                   ("probe.firmware_outdated", "4-1", "high"),
                   ("probe.unapproved_service", "4-3", "medium")}
    assert sum(d.rule == "probe.unapproved_service" for d in out.drafts) == 2  # 21 and 554
    assert ("probe.exposed_service", "192.0.2.20:") in out.cleared
    clean = checks.Outcome()
    checks.host_checks(clean, _host(ports=[{"port": 631, "proto": "tcp", "state": "open",
                                            "service": "ipp"}]), 1.0, False)
    assert clean.drafts == [] and "probe.services" in clean.covered


def test_config_rejects_bad_probe_settings() -> None:
    with pytest.raises(ConfigError, match="probe.credentials"):
        Config.model_validate({"probe": {"credentials": ["toaster"]}})
    with pytest.raises(ConfigError, match="probe.ports"):
        Config.model_validate({"probe": {"ports": [0, 80]}})


def test_probe_with_an_empty_scope_is_refused(tmp_path: Path) -> None:
    r = subprocess.run([OFFICEGUARD, "probe", "--db", str(tmp_path / "t.db")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "scope is empty" in r.stderr


def _probe_loopback(tmp_path: Path, port: int, *extra: str) -> dict[str, Any]:
    """`officeguard probe` of one loopback port, as a real process; its JSON document."""
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[storage]\ndata_dir = "{tmp_path}"\n[probe]\nports = [{port}]\n')
    r = subprocess.run([OFFICEGUARD, "probe", "--config", str(cfg), "--scope", "127.0.0.1/32",
                        "--json", *extra], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    doc: dict[str, Any] = json.loads(r.stdout)
    return doc


class _Hostile(BaseHTTPRequestHandler):
    def version_string(self) -> str:
        return "evil\x01/1.0 \"><img src=x onerror=alert(1)>"

    def do_GET(self) -> None:  # noqa: N802
        body = b"<title><script>alert(1)</script>\xff\xfe admin</title>"
        self.send_response(401)
        self.send_header("WWW-Authenticate", 'Basic realm="=cmd|\' /C calc\'!A0"')
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a: object) -> None:
        pass


def test_loopback_probe_of_a_hostile_device_is_recorded_as_data(tmp_path: Path) -> None:
    srv = HTTPServer(("127.0.0.1", 0), _Hostile)
    port = srv.server_address[1]
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        doc = _probe_loopback(tmp_path, port)
    finally:
        srv.shutdown()
        srv.server_close()
    p = doc["hosts"][0]["ports"][0]
    assert p["port"] == port and p["http"]["status"] == 401
    assert p["http"]["title"].startswith("<script>alert(1)</script>")  # kept as text
    assert "\x01" not in p["banner"]
    assert p["http"]["realm"] == "=cmd|' /C calc'!A0"
    store = Store(tmp_path / "officeguard.db")
    try:
        rows = store.query("SELECT banner FROM device_ports WHERE ip = '127.0.0.1'")
        assert rows and "onerror" in rows[0]["banner"]
    finally:
        store.close()


def test_scheduler_never_overlaps_a_job_and_spreads_due_times(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg = Config.model_validate({"storage": {"data_dir": str(tmp_path)}, "probe": {
        "scope": ["127.0.0.1/32"], "ports": [port], "scan_interval_s": 300, "jitter_s": 60}})
    store = Store(tmp_path / "officeguard.db")
    try:
        sch = Scheduler(cfg, store, rng=random.Random(1))
        t0 = time.monotonic()
        assert not sch.tick(t0)  # nothing due yet: the first run waits 30 s + jitter
        assert sch.tick(t0 + 200)
        assert not sch.tick(t0 + 201)  # running, or not due: never two at once
        assert sch.running is not None
        sch.running.join(30)
        assert sch.last.get("error") == "" and sch.last["hosts"] == 1
        due = sch.next_due["scan"]
        assert t0 + 500 <= due <= t0 + 560  # interval + jitter
        assert sch.due(t0 + 600) == ("scan",)  # isolation/website not configured: never due
        assert store.query("SELECT COUNT(*) AS n FROM probe_runs")[0]["n"] == 1
    finally:
        store.close()


def test_smtp_and_dns_versions_in_nmaps_words() -> None:
    from agent.probe.services import parse_txt_answer, version_bind_query

    assert fingerprint.smtp("220 mail.example ESMTP Postfix (Debian/GNU)").product == \
        "Postfix smtpd"
    assert fingerprint.smtp("220 mx ESMTP Exim 4.96 Thu, 26 Nov 2026") == fingerprint.Ident(
        "smtp", "Exim smtpd", "4.96")
    assert fingerprint.dns_version("dnsmasq-2.89") == fingerprint.Ident(
        "domain", "dnsmasq", "2.89")
    assert fingerprint.dns_version("9.18.19-1~deb12u1-Debian").product == "ISC BIND"
    q = version_bind_query()[2:]
    answer = (q[:2] + b"\x84\x00" + b"\x00\x01\x00\x01\x00\x00\x00\x00" + q[12:]
              + b"\xc0\x0c" + struct.pack(">HHIH", 16, 3, 0, 13) + b"\x0cdnsmasq-2.89")
    assert parse_txt_answer(answer) == "dnsmasq-2.89"


def test_tls_on_an_http_port_is_found_like_nmap(tmp_path: Path) -> None:
    """An HTTPS server on a port the probe expects plain HTTP on (loopback only)."""
    import ssl

    from appliance.firstboot import tls_certificate

    key_pem, cert_pem = tls_certificate("localhost")
    (tmp_path / "k.pem").write_bytes(key_pem)
    (tmp_path / "c.pem").write_bytes(cert_pem)
    srv = HTTPServer(("127.0.0.1", 0), _Hostile)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(tmp_path / "c.pem", tmp_path / "k.pem")
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    port = srv.server_address[1]
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        p = _probe_loopback(tmp_path, port, "--no-record")["hosts"][0]["ports"][0]
        # nmap names it ssl/<service>; the probe found the TLS and the page behind it
        assert p["service"] == "https" and p["http"]["status"] == 401
    finally:
        srv.shutdown()
        srv.server_close()


@contextlib.contextmanager
def _serving(srv: Any) -> Any:
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        yield srv.server_address[1]
    finally:
        srv.shutdown()
        srv.server_close()


def _finding(doc: dict[str, Any], rule: str) -> dict[str, Any] | None:
    return next((f for f in doc["findings"] if f["rule"] == rule), None)


def test_rtsp_camera_that_closes_after_each_answer_is_found_unauthenticated(
        tmp_path: Path) -> None:
    """OPTIONS on one connection, DESCRIBE on the next: the stream is open to anyone."""
    from tests.tools import fakedevices

    srv = fakedevices.rtsp_server("Dahua Rtsp Server/2.0", auth=False, port=0, close=True,
                                  bind="127.0.0.1")
    with _serving(srv) as port:
        doc = _probe_loopback(tmp_path, port, "--no-record")
    p = doc["hosts"][0]["ports"][0]
    assert p["service"] == "rtsp" and "error" not in p, p
    assert p["rtsp"]["options_status"] == 200 and p["rtsp"]["describe_status"] == 200
    assert p["rtsp"]["sdp"] and p["rtsp"]["unauthenticated"]
    f = _finding(doc, "probe.unauthenticated_stream")
    assert f is not None and f["severity"] == "critical" and f["measure"] == "4-2"


def test_rtsp_camera_demanding_digest_auth_raises_nothing(tmp_path: Path) -> None:
    from tests.tools import fakedevices

    srv = fakedevices.rtsp_server("Dahua Rtsp Server/2.0", auth=True, port=0, close=True,
                                  bind="127.0.0.1")
    with _serving(srv) as port:
        doc = _probe_loopback(tmp_path, port, "--no-record")
    p = doc["hosts"][0]["ports"][0]
    assert p["rtsp"]["describe_status"] == 401 and p["rtsp"]["auth"] == "Digest"
    assert not p["rtsp"]["unauthenticated"]
    assert _finding(doc, "probe.unauthenticated_stream") is None
    assert any(c["check"] == "exposed_services" and c["result"] == "pass" for c in doc["checks"])


def test_http10_server_that_closes_after_its_answer_is_read_whole(tmp_path: Path) -> None:
    from tests.tools import fakedevices

    srv = fakedevices.http10_server("Boa/0.94.14rc21", "NAS Admin Login", port=0,
                                    bind="127.0.0.1")
    with _serving(srv) as port:
        doc = _probe_loopback(tmp_path, port, "--no-record")
    p = doc["hosts"][0]["ports"][0]
    assert p["service"] == "http" and "error" not in p, p
    assert (p["product"], p["version"]) == ("Boa HTTPd", "0.94.14rc21")
    assert p["http"]["status"] == 200 and p["http"]["title"] == "NAS Admin Login"


def test_a_banner_that_arrives_late_is_still_read(tmp_path: Path) -> None:
    """The greeting comes 3 s after the connect, later than a read waits (2 s)."""
    from tests.tools import fakedevices

    srv = fakedevices.banner_server("SSH-2.0-OpenSSH_7.4", delay=3.0, port=0, bind="127.0.0.1")
    with _serving(srv) as port:
        doc = _probe_loopback(tmp_path, port, "--no-record")
    p = doc["hosts"][0]["ports"][0]
    assert (p["service"], p["product"], p["version"]) == ("ssh", "OpenSSH", "7.4"), p


def test_a_partial_rtsp_answer_keeps_what_was_learnt() -> None:
    """OPTIONS answered, DESCRIBE cut off before its status line: the server name and the
    OPTIONS answer stay, the error is recorded beside them."""
    import asyncio

    from agent.probe import services
    from agent.probe.gate import Gate, Settings

    def serve(sock: socket.socket) -> None:
        for n in range(3):
            try:
                c, _ = sock.accept()
            except OSError:  # the test is over and closed the listener
                return
            with c:
                c.recv(4096)
                if n == 0:
                    c.sendall(b"RTSP/1.0 200 OK\r\nCSeq: 1\r\nServer: Hikvision-Webs/1.0\r\n\r\n")
                else:
                    c.sendall(b"RTSP/1.0")  # and gone

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(4)
        threading.Thread(target=serve, args=(s,), daemon=True).start()
        ctx = Gate(Scope.parse(["127.0.0.1/32"]), Settings(read_timeout_s=1.0))
        info = asyncio.run(services.rtsp_info(ctx, "127.0.0.1", s.getsockname()[1]))
    assert info["product"] == "Hikvision-Webs" and info["rtsp"]["options_status"] == 200
    assert info["rtsp"]["describe_status"] is None and not info["rtsp"]["unauthenticated"]
    assert info["error"].startswith("DESCRIBE")


def test_icmp_answers_are_told_apart() -> None:
    from agent.probe import segments

    ident = 0x1234
    echo = segments.echo_request(ident, 7)
    ip = bytes([0x45, 0, 0, 48, 0, 0, 0, 0, 64, 1, 0, 0]) + socket.inet_aton("192.0.2.40") + \
        socket.inet_aton("192.0.2.10")
    reply = ip + b"\x00" + echo[1:]
    assert segments.parse_icmp(reply, ident) == ("alive", "192.0.2.40")
    assert segments.parse_icmp(reply, 0x9999) is None  # someone else's ping
    inner = bytes([0x45, 0, 0, 48, 0, 0, 0, 0, 64, 1, 0, 0]) + socket.inet_aton("192.0.2.10") + \
        socket.inet_aton("192.0.2.77") + echo
    unreach = (bytes([0x45, 0, 0, 76, 0, 0, 0, 0, 64, 1, 0, 0]) + socket.inet_aton("192.0.2.1")
               + socket.inet_aton("192.0.2.10") + b"\x03\x01\x00\x00\x00\x00\x00\x00" + inner)
    assert segments.parse_icmp(unreach, ident) == ("dead", "192.0.2.77")
    assert segments.parse_icmp(b"\x45" + b"\0" * 10, ident) is None
