"""The live agent inside a namespace testbed: real sockets, real ARP, real timings."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import OFFICEGUARD, ROOT
from tests.netns import Testbed

pytestmark = pytest.mark.root
ARPSEND = str(ROOT / "tests" / "tools" / "arpsend.py")


def _query(db: Path, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
    if not db.exists():
        return []
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    conn.row_factory = sqlite3.Row
    try:
        return list(conn.execute(sql, params))
    except sqlite3.OperationalError:
        return []
    finally:
        conn.close()


def _wait(pred: Any, timeout: float, step: float = 0.01) -> float | None:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if pred():
            return time.monotonic() - t0
        time.sleep(step)
    return None


def _lan(tb: Testbed, tmp_path: Path) -> tuple[Path, subprocess.Popen[bytes]]:
    tb.bridge("lan")
    tb.link("gw", "lan", "192.0.2.1/24")
    tb.link("alice", "lan", "192.0.2.10/24")
    tb.link("bob", "lan", "192.0.2.11/24")
    tb.link("mallory", "lan", "192.0.2.66/24")
    tb.link("appliance", "lan", "192.0.2.250/24")
    cfg = tmp_path / "og.toml"
    cfg.write_text(
        '[interfaces]\nlan = "eth0"\n'
        '[networks]\nbusiness = ["192.0.2.0/24"]\ngateways = ["192.0.2.1"]\n'
        f'[storage]\ndata_dir = "{tmp_path / "data"}"\nflush_interval_s = 1\n'
    )
    db = tmp_path / "data" / "officeguard.db"
    agent = tb.spawn("appliance", OFFICEGUARD, "agent", "--config", str(cfg))

    def ready() -> bool:
        rows = _query(db, "SELECT value FROM meta WHERE key = 'agent'")
        return bool(rows) and any(
            s["name"] == "lan" and s["active"] for s in json.loads(rows[0][0])["sensors"])

    if _wait(ready, 20) is None:
        agent.kill()
        out = agent.communicate()[1].decode(errors="replace")
        pytest.fail(f"agent did not start its LAN sensor:\n{out}")
    return db, agent


def test_no_route_out_of_the_testbed(testbed: Testbed, tmp_path: Path) -> None:
    testbed.bridge("lan")
    testbed.link("appliance", "lan", "192.0.2.250/24")
    assert "default" not in testbed.routes("appliance")
    res = testbed.exec("appliance", "ip", "route", "get", "1.1.1.1", check=False)
    assert res.returncode != 0  # unreachable: nothing can leave


def test_new_host_appears_within_one_second(testbed: Testbed, tmp_path: Path) -> None:
    db, agent = _lan(testbed, tmp_path)
    alice = testbed.hosts["alice"]
    assert not _query(db, "SELECT 1 FROM stations WHERE ip = '192.0.2.10'")
    # The clock starts before alice sends her first frame (the ARP request of this ping).
    took = None
    ping = testbed.spawn("alice", "ping", "-c", "1", "-W", "1", "192.0.2.11")
    took = _wait(lambda: _query(db, "SELECT 1 FROM stations WHERE ip = ? AND mac = ?",
                                ("192.0.2.10", alice.mac)), 3)
    ping.wait(5)
    assert took is not None, "alice never appeared"
    assert took < 1.0, f"took {took:.3f} s"
    agent.send_signal(signal.SIGTERM)
    assert agent.wait(10) == 0


def test_forged_gateway_replies_raise_poisoning_within_two_seconds(
    testbed: Testbed, tmp_path: Path
) -> None:
    db, agent = _lan(testbed, tmp_path)
    gw, mallory = testbed.hosts["gw"], testbed.hosts["mallory"]
    testbed.exec("gw", "ping", "-c", "1", "-W", "1", "192.0.2.10", check=False)
    assert _wait(lambda: _query(db, "SELECT 1 FROM stations WHERE ip = '192.0.2.1' AND mac = ?",
                                (gw.mac,)), 3) is not None
    # Forged gratuitous replies, as arpspoof sends them; the clock starts before the first.
    sender = testbed.spawn("mallory", sys.executable, ARPSEND, "eth0", "2", mallory.mac,
                           "192.0.2.1", "ff:ff:ff:ff:ff:ff", "192.0.2.1", "5", "0.2")
    took = _wait(lambda: _query(
        db, "SELECT 1 FROM findings WHERE rule = 'lan.arp_poisoning' AND subject = '192.0.2.1' "
        "AND severity = 'high'"), 5)
    sender.wait(5)
    assert took is not None, "no poisoning finding"
    assert took < 2.0, f"took {took:.3f} s"
    [f] = _query(db, "SELECT * FROM findings WHERE rule = 'lan.arp_poisoning'")
    assert mallory.mac in f["evidence"] and gw.mac in f["evidence"]
    assert _query(db, "SELECT 1 FROM findings WHERE rule = 'lan.gateway_mac_changed'")
    assert _query(db, "SELECT 1 FROM outbox WHERE topic = 'alerts/high'")
    agent.send_signal(signal.SIGINT)
    assert agent.wait(10) == 0
    # The compliance verdict of 3-⑧ follows, with the finding linked.
    res = subprocess.run([OFFICEGUARD, "compliance", "--json", "--db", str(db)],
                         capture_output=True, text=True, timeout=60)
    doc = json.loads(res.stdout)
    m38 = next(m for m in doc["measures"] if m["measure"] == "3-8")
    assert m38["verdict"] == "fail"
    assert {"lan.arp_poisoning", "lan.gateway_mac_changed"} <= {f["rule"] for f in
                                                                m38["findings"]}


def test_run_reports_sensors_and_stops_on_ctrl_c(testbed: Testbed, tmp_path: Path) -> None:
    """`officeguard run` on its embedded defaults, in a namespace with no network at all."""
    testbed.host("lonely")
    p = testbed.spawn("lonely", "sh", "-c",
                      f"cd {tmp_path} && exec {OFFICEGUARD} run")
    db = tmp_path / "officeguard-data" / "officeguard.db"
    assert _wait(lambda: _query(db, "SELECT 1 FROM meta WHERE key = 'agent'"), 60) is not None
    # the web service comes up beside the agent (its certificate first): on a busy machine it
    # may answer a little later, so ask until it does, within a deadline
    health = testbed.exec("lonely", sys.executable, "-c",
                          "import ssl, time, urllib.request as u\n"
                          "c = ssl._create_unverified_context(); end = time.time() + 60\n"
                          "while True:\n"
                          "    try:\n"
                          "        print(u.urlopen('https://127.0.0.1:8080/health', "
                          "context=c).read().decode()); break\n"
                          "    except OSError:\n"
                          "        if time.time() > end: raise\n"
                          "        time.sleep(0.2)\n",
                          check=False)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=15)
    text = err.decode()
    assert p.returncode == 0, text
    assert "sensor lan" in text and "inactive" in text and "no LAN interface" in text
    assert "sensor wifi" in text and "monitor" in text
    assert "sensor probe" in text and "passive" in text
    assert "agent stopped" in text and "Traceback" not in text
    assert '"ok"' in health.stdout
