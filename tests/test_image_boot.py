"""The appliance as it ships, booted under its own systemd and checked from outside.

The root file system is built the way the image is (tests/imagebed.py: debootstrap bookworm with
the pi-gen stage's packages, then image-build/install.sh in a chroot) and booted with
`systemd-nspawn --boot`: systemd 252 is PID 1 and starts the real units — sysusers, first boot,
mosquitto, the agent (Type=notify, watchdog), the dashboard's socket, the export timer. The
machine has a network namespace of its own with loopback only.

Run by `make test-image` (OFFICEGUARD_TEST_IMAGE=1; CI runs it after `make test`): it needs
root, debootstrap and systemd-container, and the Debian archive the first time (the base tree is
cached). The tests run in file order on one machine; each prints how long it took.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from tests import imagebed
from tests.imagebed import Machine, timed

pytestmark = [
    pytest.mark.slow,
    pytest.mark.root,
    pytest.mark.skipif(os.environ.get("OFFICEGUARD_TEST_IMAGE") != "1",
                       reason="run by make test-image (debootstrap + systemd-nspawn, minutes)"),
]
WATCHDOG_S = 60  # systemd/officeguard-agent.service
RESTART_S = 5


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    ok, why = imagebed.available()
    if not ok:
        pytest.skip(why)
    return tmp_path_factory.mktemp("appliance")


@pytest.fixture(scope="module")
def wheels(work: Path) -> Path:
    with timed("wheelhouse (officeguard + dependencies)"):
        return imagebed.wheelhouse(work / "wheels")


@pytest.fixture(scope="module")
def machine(work: Path, wheels: Path) -> Iterator[Machine]:
    root = imagebed.installed_tree(work, wheels)
    # kept pristine: a second unit booted from the same image must make its own credentials
    subprocess.run(["cp", "-a", "--reflink=auto", str(root), str(work / "pristine")], check=True)
    m = Machine(root, work / "console.log")
    with timed("boot (nspawn start to systemd 'running')"):
        m.boot()
    yield m
    with timed("power-off"):
        m.shutdown()
    for label, dt in imagebed.TIMINGS:
        print(f"  {label:<60} {dt:7.1f} s")


def _tls_context(m: Machine) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=m.root / "etc/officeguard/tls/web.crt")


def _active(m: Machine, unit: str) -> bool:
    return m.props(unit, "ActiveState")["ActiveState"] == "active"


# -- first boot ------------------------------------------------------------------------------

def test_first_boot_ran_once_and_made_the_units_own_credentials(machine: Machine) -> None:
    m = machine
    with timed("check: first boot"):
        p = m.props("officeguard-firstboot.service", "Result", "ActiveState",
                    "ExecMainStartTimestampMonotonic", "ExecMainExitTimestampMonotonic")
        assert p["Result"] == "success" and p["ActiveState"] == "active", (p, m.journal(
            "officeguard-firstboot.service"))
        took = (int(p["ExecMainExitTimestampMonotonic"])
                - int(p["ExecMainStartTimestampMonotonic"])) / 1e6
        print(f"[image] first boot (officeguard firstboot under systemd): {took:.1f} s")
        imagebed.TIMINGS.append(("first boot unit itself", took))
        etc = m.root / "etc/officeguard"
        assert (m.root / "var/lib/officeguard/.firstboot-done").exists()
        code = (etc / "setup-code").read_text().strip()
        assert re.fullmatch(r"[2-9A-Z]{4}-[2-9A-Z]{4}-[2-9A-Z]{4}", code)
        pw = (etc / "mqtt-password").read_text().strip()
        assert len(pw) >= 24
        passwd = (m.root / "etc/mosquitto/officeguard.passwd").read_text()
        assert passwd.startswith("officeguard:") and pw not in passwd  # hashed
        assert oct((m.root / "root/officeguard-first-boot.txt").stat().st_mode)[-3:] == "600"
        # the console got it too (StandardOutput=journal+console)
        assert code in m.journal("officeguard-firstboot.service", 200)
        starts = m.sh("journalctl", "--no-pager", "-u", "officeguard-firstboot.service",
                      "-g", "Starting|Finished", check=False).stdout
        assert starts.count("Finished") == 1, starts

        # a second unit from the same image makes different credentials
        other = Machine(m.root.parent / "pristine", m.root.parent / "console-2.log")
        try:
            with timed("boot a second unit from the same image"):
                other.boot()
            o = other.root / "etc/officeguard"
            assert other.props("officeguard-firstboot.service", "Result")["Result"] == "success"
            assert (o / "setup-code").read_text() != (etc / "setup-code").read_text()
            assert (o / "mqtt-password").read_text() != (etc / "mqtt-password").read_text()
            assert (o / "tls/web.crt").read_text() != (etc / "tls/web.crt").read_text()
            k = "var/lib/officeguard/keys/export-signing.pem"
            assert (other.root / k).read_bytes() != (m.root / k).read_bytes()
        finally:
            other.shutdown()
            shutil.rmtree(other.root, ignore_errors=True)


# -- the agent -------------------------------------------------------------------------------

def _caps(m: Machine, pid: str) -> tuple[int, int, str]:
    """Effective and bounding capabilities and the uid of a running process; that its sandbox
    is really applied (no new privileges, a seccomp filter) is asserted on the way."""
    status = m.sh("cat", f"/proc/{pid}/status").stdout
    assert re.search(r"^NoNewPrivs:\s+1$", status, re.M), status
    assert re.search(r"^Seccomp:\s+2$", status, re.M), status  # SystemCallFilter in force
    eff = int(re.search(r"^CapEff:\s+(\w+)", status, re.M).group(1), 16)  # type: ignore[union-attr]
    bnd = int(re.search(r"^CapBnd:\s+(\w+)", status, re.M).group(1), 16)  # type: ignore[union-attr]
    uid = re.search(r"^Uid:\s+(\d+)", status, re.M).group(1)  # type: ignore[union-attr]
    return eff, bnd, uid


CAP_NET_ADMIN, CAP_NET_RAW = 1 << 12, 1 << 13


def test_agent_reached_ready_via_sd_notify(machine: Machine) -> None:
    m = machine
    with timed("check: agent READY"):
        p = m.props("officeguard-agent.service", "Type", "ActiveState", "SubState", "StatusText",
                    "WatchdogUSec", "MainPID", "NRestarts", "Result")
        assert p["Type"] == "notify"
        # a Type=notify unit is "active (running)" only after READY=1 from the agent itself
        assert (p["ActiveState"], p["SubState"]) == ("active", "running"), (
            p, m.journal("officeguard-agent.service"))
        assert p["StatusText"].startswith("sensors: "), p  # STATUS= sent with READY=1
        assert p["WatchdogUSec"] in ("1min", "60s", "60000000"), p
        assert p["NRestarts"] == "0", m.journal("officeguard-agent.service")
        assert "MQTT alerts cannot start" not in m.journal("officeguard-agent.service", 200)
        eff, bnd, uid = _caps(m, p["MainPID"])
        assert eff == CAP_NET_RAW | CAP_NET_ADMIN and bnd == eff, (hex(eff), hex(bnd))
        assert uid == m.sh("id", "-u", "officeguard").stdout.strip()
        # the vendor table, compiled from the image's IEEE registry at the agent's first start
        # and kept for the next one in its CacheDirectory, private to the agent's user
        got = m.sh("stat", "-c", "%U %a", "/var/cache/officeguard",
                   "/var/cache/officeguard/oui.bin").stdout.split()
        assert got == ["officeguard", "700", "officeguard", "600"], got


# -- the dashboard ---------------------------------------------------------------------------

def test_dashboard_https_on_its_socket_with_the_first_boot_certificate(machine: Machine) -> None:
    m = machine
    with timed("check: dashboard HTTPS (socket activation)"):
        assert _active(m, "officeguard-web.socket")
        assert m.props("officeguard-web.socket", "Listen")["Listen"] == "[::]:443 (Stream)"
        # nothing has connected yet: systemd holds the port, the service is not running
        assert m.props("officeguard-web.service", "ActiveState")["ActiveState"] == "inactive"
        ctx = _tls_context(m)
        pem = (m.root / "etc/officeguard/tls/web.crt").read_text()

        def get_health() -> tuple[bytes, bytes]:
            with socket.create_connection(("127.0.0.1", 443), timeout=60) as raw, \
                    ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
                der = tls.getpeercert(binary_form=True) or b""
                tls.sendall(b"GET /health HTTP/1.1\r\nHost: officeguard\r\n"
                            b"Connection: close\r\n\r\n")
                data = b""
                while chunk := tls.recv(65536):
                    data += chunk
            return der, data

        der, data = m.in_netns(get_health)
        assert der == ssl.PEM_cert_to_DER_cert(pem)
        assert data.startswith(b"HTTP/1.1 200"), data[:300]
        p = m.props("officeguard-web.service", "ActiveState", "MainPID")
        assert p["ActiveState"] == "active"
        eff, bnd, uid = _caps(m, p["MainPID"])
        assert eff == 0, hex(eff)  # the web service holds no capability at all
        assert uid == m.sh("id", "-u", "officeguard").stdout.strip()
        # and reaches only what it must: no raw sockets, IP limited to loopback and the LAN
        w = m.props("officeguard-web.service", "RestrictAddressFamilies", "IPAddressDeny",
                    "PrivateUsers")
        assert "AF_PACKET" not in w["RestrictAddressFamilies"], w
        assert w["IPAddressDeny"] and w["PrivateUsers"] == "yes", w

        def plain_http() -> bytes:
            with socket.create_connection(("127.0.0.1", 443), timeout=30) as s:
                s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
                try:
                    return s.recv(100)
                except OSError:
                    return b""

        assert not m.in_netns(plain_http).startswith(b"HTTP/1.1 200")


# -- the broker ------------------------------------------------------------------------------

def test_broker_accepts_only_tls_with_the_first_boot_certificate(machine: Machine) -> None:
    from tests.test_broker_tls import connect

    m = machine
    ca = m.root / "etc/officeguard/tls/web.crt"
    pw = (m.root / "etc/officeguard/mqtt-password").read_text().strip()
    with timed("check: broker TLS only"):
        def probe() -> dict[str, str]:
            out = {}
            try:
                socket.create_connection(("127.0.0.1", 1883), timeout=10).close()
                out["1883"] = "open"
            except OSError as exc:
                out["1883"] = f"closed: {exc}"
            out["plain"] = connect(8883, ca=None, user="officeguard", password=pw)
            out["anonymous"] = connect(8883, ca=ca)
            out["wrong"] = connect(8883, ca=ca, user="officeguard", password="x" * 24)
            out["tls"] = connect(8883, ca=ca, user="officeguard", password=pw)
            return out

        got = m.in_netns(probe)
        assert got["1883"].startswith("closed"), got
        assert got["plain"] != "ok" and got["anonymous"] != "ok" and got["wrong"] != "ok", got
        assert got["tls"] == "ok", got


def test_a_test_alert_from_the_dashboard_reaches_a_subscriber(machine: Machine) -> None:
    import httpx

    m = machine
    ca = m.root / "etc/officeguard/tls/web.crt"
    pw = (m.root / "etc/officeguard/mqtt-password").read_text().strip()
    code = (m.root / "etc/officeguard/setup-code").read_text().strip()
    with timed("check: test alert dashboard → MQTT subscriber"):
        def flow() -> tuple[str, list[bytes]]:
            got: list[bytes] = []
            arrived = threading.Event()
            sub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="staff-phone")
            sub.tls_set(ca_certs=str(ca))
            sub.username_pw_set("officeguard", pw)
            subscribed = threading.Event()

            def on_message(c: mqtt.Client, u: object, msg: mqtt.MQTTMessage) -> None:
                got.append(msg.payload)
                arrived.set()

            sub.on_message = on_message
            sub.on_connect = lambda c, u, f, rc, p: c.subscribe("officeguard/+/alerts/test", 1)
            sub.on_subscribe = lambda c, u, mid, rc, p: subscribed.set()
            sub.connect("127.0.0.1", 8883)
            sub.loop_start()
            try:
                assert subscribed.wait(30)
                with httpx.Client(base_url="https://127.0.0.1", verify=_tls_context(m),
                                  timeout=60) as web:
                    r = web.post("/setup", data={"code": code, "username": "manager",
                                                 "password": "a long pass phrase 1",
                                                 "password2": "a long pass phrase 1"})
                    assert r.status_code == 303 and r.headers["location"] == "/", r.text[:500]
                    page = web.get("/settings").text
                    csrf = re.search(r'name="csrf" value="([^"]+)"', page)
                    assert csrf, page[:500]
                    r = web.post("/settings/alert-test", data={"csrf": csrf.group(1)})
                    msg = r.headers.get("location", "")
                assert arrived.wait(30), "the subscriber got no test alert"
            finally:
                sub.loop_stop()
            return msg, got

        msg, got = m.in_netns(flow)
        assert msg == "/settings?msg=alert-requested", msg  # the agent sends it (#15)
        doc = json.loads(got[0])
        assert doc["change"] == "test" and doc["requested_by"] == "manager", doc
        # the agent records the delivery (PUBACK from its broker) and the command's outcome just
        # after the broker passed the alert on: wait for them, as the dashboard does
        aid = doc["alert_id"]
        m.wait_for("the delivery recorded", lambda: bool((m.sql(
            f"SELECT delivered_at FROM alert_tests WHERE alert_id = '{aid}'") or [[None]])[0][0]),
            30)
        m.wait_for("the command done", lambda: m.sql(
            "SELECT state FROM commands WHERE kind = 'test_alert' ORDER BY id DESC LIMIT 1")
            == [["done"]], 30)


# -- the export timer ------------------------------------------------------------------------

def test_export_timer_is_scheduled_and_its_unit_works(machine: Machine) -> None:
    m = machine
    with timed("check: export timer (+ one export run in its sandbox)"):
        p = m.props("officeguard-export.timer", "ActiveState", "NextElapseUSecRealtime",
                    "TimersCalendar")
        assert p["ActiveState"] == "active", p
        assert "*-*-01 02:30:00" in p["TimersCalendar"], p
        # the next 1st of a month at 02:30, plus the randomised delay (up to 15 minutes)
        assert re.search(r"next_elapse=\w+ \d{4}-\d\d-01 02:30:00", p["TimersCalendar"]), p
        nxt = re.search(r"(\d{4}-\d\d-01) 02:(\d\d):\d\d", p["NextElapseUSecRealtime"])
        assert nxt and 30 <= int(nxt.group(2)) <= 45, p
        assert nxt.group(1) > datetime.now().strftime("%Y-%m-%d"), p
        r = m.sh("systemctl", "start", "officeguard-export.service", check=False, timeout=600)
        p = m.props("officeguard-export.service", "Result", "ExecMainStatus")
        assert r.returncode == 0 and p["Result"] == "success", (
            p, m.journal("officeguard-export.service"))
        exports = list((m.root / "var/lib/officeguard/exports").rglob("*.json"))
        assert exports, "the export unit wrote nothing"


# -- watchdog --------------------------------------------------------------------------------

def _unclean_restart_since(m: Machine, t: float) -> bool:
    return bool(m.sql("SELECT id FROM findings WHERE rule = 'health.unclean_restart' "
                      f"AND last_seen >= {t - 1} AND status IN ('open', 'reopened')"))


def test_watchdog_restarts_a_hung_agent_and_records_it(machine: Machine) -> None:
    m = machine
    unit = "officeguard-agent.service"
    with timed("check: watchdog (SIGSTOP the agent)"):
        before = m.props(unit, "MainPID", "NRestarts")
        stopped_at = time.time()
        m.sh("systemctl", "kill", "--kill-whom=main", "--signal=SIGSTOP", unit)
        state = m.sh("cat", f"/proc/{before['MainPID']}/stat").stdout.split()[2]
        assert state == "T", state  # stopped: it can no longer ping the watchdog
        t0 = time.monotonic()

        def restarted() -> bool:
            p = m.props(unit, "MainPID", "NRestarts", "SubState")
            return (p["NRestarts"] != before["NRestarts"] and p["MainPID"] not in ("0", before[
                "MainPID"]) and p["SubState"] == "running")

        m.wait_for("systemd to restart the hung agent", restarted,
                   WATCHDOG_S + RESTART_S + 120, poll=1)
        took = time.monotonic() - t0
        print(f"[image] watchdog: hung agent running again after {took:.1f} s "
              f"(WatchdogSec={WATCHDOG_S}, RestartSec={RESTART_S})")
        log = m.journal(unit, 200)
        assert "Watchdog timeout" in log, log
        # the watchdog fires at most WatchdogSec after the last ping; then RestartSec
        assert took <= WATCHDOG_S + RESTART_S + 30, took
        m.wait_for("a health finding about the restart",
                   lambda: _unclean_restart_since(m, stopped_at), 60, poll=1)


# -- power cut -------------------------------------------------------------------------------

def test_power_cut_during_ingest_loses_nothing_committed(machine: Machine, work: Path) -> None:
    from tests.test_durability import _arp_capture

    m = machine
    caps = []
    for k in range(4):  # long enough that the cut lands mid-way on a fast machine too
        cap = m.root / f"var/lib/officeguard/cut{k}.pcap"
        _arp_capture(cap, 100_000, 7 + k)
        shutil.chown(cap, user=int(m.sh("id", "-u", "officeguard").stdout),
                     group=int(m.sh("id", "-g", "officeguard").stdout))
        caps.append(f"/var/lib/officeguard/{cap.name}")
    creds = (m.root / "etc/officeguard/mqtt-password").read_text()
    with timed("check: power cut during ingest"):
        n0 = len(m.sql("SELECT id FROM findings"))
        ingest = subprocess.Popen(
            ["nsenter", "-t", str(m.leader), "-m", "-u", "-i", "-n", "-p", "-C", "env", "-i",
             f"PATH={imagebed.PATH}", "OFFICEGUARD_CONFIG=/etc/officeguard/officeguard.toml",
             "setpriv", "--reuid=officeguard", "--regid=officeguard", "--init-groups",
             "officeguard", "ingest", *caps],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        m.wait_for("the ingest to commit findings",
                   lambda: len(m.sql("SELECT id FROM findings")) > n0 + 20, 300, poll=0.2)
        committed = {(r, s) for r, s in m.sql("SELECT rule, subject FROM findings")}
        alerts = {a for (a,) in m.sql("SELECT alert_id FROM outbox")}
        assert ingest.poll() is None, "the ingest finished before the cut: make it longer"
        cut_at = time.time()
        m.power_cut()
        ingest.wait(30)
    with timed("boot after the power cut"):
        m.boot()
    with timed("check: after the power cut"):
        assert m.sql("PRAGMA integrity_check") == [["ok"]]
        now = {(r, s) for r, s in m.sql("SELECT rule, subject FROM findings")}
        now_alerts = {a for (a,) in m.sql("SELECT alert_id FROM outbox")}
        assert committed <= now and alerts <= now_alerts
        assert committed and alerts
        p = m.props("officeguard-agent.service", "ActiveState", "SubState", "StatusText")
        assert (p["ActiveState"], p["SubState"]) == ("active", "running"), p
        # first boot did not run again: the credentials are the same
        fb = m.props("officeguard-firstboot.service", "ConditionResult", "Result")
        assert fb["ConditionResult"] == "no", fb
        assert (m.root / "etc/officeguard/mqtt-password").read_text() == creds

        def resumed() -> bool:  # a heartbeat from an agent started after the cut
            rows = m.sql("SELECT value FROM meta WHERE key = 'agent'")
            if not rows:
                return False
            doc = json.loads(str(rows[0][0]))
            return bool(doc.get("running")) and datetime.fromisoformat(
                doc["started_at"]).timestamp() > cut_at
        m.wait_for("a heartbeat from the resumed agent", resumed, 120)
        m.wait_for("the unclean-stop finding", lambda: _unclean_restart_since(m, cut_at), 60)


# -- upgrade ---------------------------------------------------------------------------------

def _release(work: Path, wheels: Path, version: str, broken: bool = False) -> Path:
    def break_agent(src: Path) -> None:
        cli = src / "appliance/cli/__init__.py"
        text = cli.read_text()
        hook = "    from agent.runner import Agent\n"
        assert hook in text
        # the broken release migrates the database, then its agent dies at start
        cli.write_text(text.replace(hook, hook + (
            "    import sqlite3 as _s\n"
            "    _c = _s.connect(config.db_path)\n"
            "    _c.execute('CREATE TABLE IF NOT EXISTS i20_broken_migration (x)')\n"
            "    _c.commit()\n"
            "    raise SystemExit('this release is broken on purpose')\n"), 1))

    src = imagebed.release_source(work / f"src-{version}", version,
                                  break_agent if broken else None)
    out = work / f"rel-{version}"
    out.mkdir()
    for w in wheels.iterdir():
        if not w.name.startswith("officeguard-"):
            shutil.copy(w, out)
    res = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                          "-w", str(out), str(src)], capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    return out


def test_upgrade_under_systemd_and_rollback_of_a_broken_release(machine: Machine, work: Path,
                                                                 wheels: Path) -> None:
    m = machine
    agent = "officeguard-agent.service"

    def running_release() -> str:
        return m.release_of(m.props(agent, "MainPID")["MainPID"])

    def linked() -> str:
        return Path(m.sh("readlink", "-f", "/opt/officeguard/venv").stdout.strip()).name

    assert running_release() == linked() == "initial"
    for version in ("0.1.1", "0.1.2"):
        rel = _release(work, wheels, version, broken=version == "0.1.2")
        shutil.copytree(rel, m.root / f"var/tmp/rel-{version}")
    with timed("check: upgrade to a new release under systemd"):
        r = m.sh("officeguard", "upgrade", "/var/tmp/rel-0.1.1", "--offline", "--json",
                 check=False, timeout=900)
        assert r.returncode == 0, r.stdout + r.stderr
        doc = json.loads(r.stdout)
        assert doc["ok"] and not doc["rolled_back"], doc
        new = Path(doc["current"]).name
        assert linked() == new and running_release() == new
        assert m.sh("officeguard", "--version").stdout.strip() == "officeguard 0.1.1"
        p = m.props(agent, "ActiveState", "SubState")
        assert (p["ActiveState"], p["SubState"]) == ("active", "running")
    with timed("check: a broken release is rolled back (code and database)"):
        tables = m.sql("SELECT name FROM sqlite_master WHERE type = 'table'")
        r = m.sh("officeguard", "upgrade", "/var/tmp/rel-0.1.2", "--offline", "--json",
                 "--health-timeout", "60", check=False, timeout=900)
        assert r.returncode == 1, r.stdout + r.stderr
        doc = json.loads(r.stdout)
        assert doc["rolled_back"] and not doc["ok"], doc
        assert linked() == new
        m.wait_for("the agent back on the previous release", lambda: m.props(
            agent, "SubState")["SubState"] == "running", 120)
        assert running_release() == new
        assert m.sh("officeguard", "--version").stdout.strip() == "officeguard 0.1.1"
        # the broken release's migration is gone with the restored database
        assert m.sql("SELECT name FROM sqlite_master WHERE type = 'table'") == tables
        assert m.sql("PRAGMA integrity_check") == [["ok"]]


# -- boundaries ------------------------------------------------------------------------------

def test_exposure_scores_of_the_running_units(machine: Machine) -> None:
    """systemd-analyze security on the booted system: no worse than docs/appliance.md says."""
    from tests.test_systemd import documented_scores

    m = machine
    with timed("check: systemd-analyze security (online)"):
        for unit, limit in documented_scores().items():
            if "@" in unit:
                unit = unit.replace("@", "@wlan1")
            out = m.sh("systemd-analyze", "security", "--no-pager", unit, check=False).stdout
            got = re.search(r"Overall exposure level for \S+: ([\d.]+) (\w+)", out)
            assert got, out[-500:]
            print(f"[image] {unit}: {got.group(1)} {got.group(2)} (documented {limit})")
            assert float(got.group(1)) <= limit, (unit, got.group(0))

