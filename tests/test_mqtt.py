"""MQTT alerts against a real mosquitto: payloads, TLS with passwords, outages, SIGKILL, LWT."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from agent import mqtt as og_mqtt
from agent.capture import write_pcap
from appliance.findings import FindingDraft, apply_drafts
from appliance.store import Store
from tests import wifigen as g
from tests.conftest import OFFICEGUARD, ROOT, Broker

ALERT_KEYS = {"alert_id", "change", "time", "finding_id", "rule", "measure", "severity",
              "subject", "title_ja", "title_en", "message_ja", "message_en"}


class Subscriber:
    def __init__(self, port: int, topic: str, tls: dict[str, str] | None = None,
                 user: tuple[str, str] | None = None) -> None:
        self.messages: list[tuple[str, bytes, bool]] = []
        self.cond = threading.Condition()
        self.c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"sub-{os.getpid()}-"
                             f"{time.monotonic_ns()}")
        if tls:
            self.c.tls_set(ca_certs=tls["ca"])
        if user:
            self.c.username_pw_set(*user)
        self.c.on_message = self._msg
        ready = threading.Event()
        self.c.on_subscribe = lambda *_a: ready.set()
        self.c.on_connect = lambda cl, *_a: cl.subscribe(topic, qos=1)
        self.c.connect("127.0.0.1", port)
        self.c.loop_start()
        assert ready.wait(10), "subscription not acknowledged"

    def _msg(self, _c: Any, _u: Any, m: mqtt.MQTTMessage) -> None:
        with self.cond:
            self.messages.append((m.topic, m.payload, bool(m.retain)))
            self.cond.notify_all()

    def wait_for(self, pred: Any, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self.cond:
            while not pred(self.messages):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.cond.wait(left)
        return True

    def alerts(self) -> list[dict[str, Any]]:
        return [json.loads(p) for t, p, _r in self.messages
                if "/alerts/" in t and not t.endswith(("/latest", "/test"))]

    def close(self) -> None:
        self.c.loop_stop()
        self.c.disconnect()


def write_config(tmp: Path, broker_port: int, extra: str = "") -> Path:
    cfg = tmp / "og.toml"
    cfg.write_text(
        f'[facility]\nid = "site-a"\n[[facility.ssids]]\nname = "Shibuya-Guest"\n'
        f'bssids = ["02:00:5e:10:00:01"]\n'
        f'[interfaces]\nlan = "nonexistent0"\n'
        f'[storage]\ndata_dir = "{tmp / "data"}"\nflush_interval_s = 1\n'
        f'[mqtt]\nhost = "127.0.0.1"\nport = {broker_port}\n'
        f'dashboard_url = "https://officeguard.local/"\n{extra}')
    return cfg


def start_agent(cfg: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as f:
        return subprocess.Popen([OFFICEGUARD, "agent", "--config", str(cfg)],
                                stdout=subprocess.DEVNULL, stderr=f)


def raise_findings(db: Path, n: int, start: int = 0) -> None:
    """n distinct high findings, each with its outbox row, as the pipeline writes them."""
    with Store(db) as store:
        drafts = [FindingDraft("lan.arp_poisoning", "3-8", "high", f"198.51.100.{i % 250}/{i}",
                               "ARP", "ARP", 1_800_000_000.0 + i) for i in range(start, start + n)]
        for k in range(0, n, 100):
            store.write(lambda c, b=drafts[k:k + 100]: apply_drafts(c, b))


def ordered_unique(alerts: list[dict[str, Any]]) -> list[str]:
    """Subjects of the raised test findings, first arrival of each alert, in arrival order
    (the agent's own health findings, which may come and go during a test, are left out)."""
    seen: set[str] = set()
    out = []
    for a in alerts:
        if a.get("rule") == "lan.arp_poisoning" and a["alert_id"] not in seen:
            seen.add(a["alert_id"])
            out.append(a["subject"])
    return out


def outbox_subjects(db: Path) -> list[str]:
    conn = sqlite3.connect(db)
    rows = [d["subject"] for d in (json.loads(p) for (p,) in conn.execute(
        "SELECT payload FROM outbox ORDER BY id")) if d.get("rule") == "lan.arp_poisoning"]
    conn.close()
    return rows


def test_finding_from_ingest_reaches_a_phone_over_tls_with_a_password(tmp_path: Path) -> None:
    certs = tmp_path / "certs"
    certs.mkdir()
    ssl = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"]
    subprocess.run([*ssl, "-keyout", str(certs / "ca.key"), "-out", str(certs / "ca.pem"),
                    "-subj", "/CN=test-ca"], check=True, capture_output=True)
    subprocess.run(["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout",
                    str(certs / "srv.key"), "-out", str(certs / "srv.csr"), "-subj",
                    "/CN=127.0.0.1"], check=True, capture_output=True)
    ext = certs / "ext.cnf"
    ext.write_text("subjectAltName=IP:127.0.0.1\n")
    subprocess.run(["openssl", "x509", "-req", "-in", str(certs / "srv.csr"), "-CA",
                    str(certs / "ca.pem"), "-CAkey", str(certs / "ca.key"), "-CAcreateserial",
                    "-out", str(certs / "srv.pem"), "-days", "2", "-extfile", str(ext)],
                   check=True, capture_output=True)
    pwfile = tmp_path / "passwd"
    subprocess.run(["mosquitto_passwd", "-c", "-b", str(pwfile), "officeguard", "s3cret-t3st"],
                   check=True, capture_output=True)
    pwfile.chmod(0o644)
    broker = Broker(tmp_path)
    broker.conf.write_text(
        f"listener {broker.port} 127.0.0.1\ncafile {certs / 'ca.pem'}\n"
        f"certfile {certs / 'srv.pem'}\nkeyfile {certs / 'srv.key'}\n"
        f"allow_anonymous false\npassword_file {pwfile}\npersistence false\n"
        + broker.user_line())
    (certs / "srv.key").chmod(0o644)
    broker.start()
    secret = tmp_path / "mqtt-password"
    secret.write_text("s3cret-t3st\n")
    secret.chmod(0o600)  # a secret readable by every user is refused (#14)
    try:
        sub = Subscriber(broker.port, "officeguard/site-a/#", tls={"ca": str(certs / "ca.pem")},
                         user=("officeguard", "s3cret-t3st"))
        cfg = write_config(tmp_path, broker.port,
                           f'username = "officeguard"\npassword_file = "{secret}"\n'
                           f'ca_file = "{certs / "ca.pem"}"\n')
        agent = start_agent(cfg, tmp_path / "agent.log")
        try:
            assert sub.wait_for(lambda ms: any(t.endswith("/status") and p == b"online"
                                               for t, p, _r in ms), 15), \
                (tmp_path / "agent.log").read_text()
            cap = tmp_path / "twin.pcap"
            frames = [(1000 + i * 0.1, g.radiotap(g.beacon("02:00:5e:10:00:01", "Shibuya-Guest",
                                                           pmf=True))) for i in range(5)]
            frames += [(1000.05 + i * 0.1, g.radiotap(g.beacon("00:13:37:00:00:66",
                                                               "Shibuya-Guest", security="OPEN")))
                       for i in range(5)]
            write_pcap(cap, 127, sorted(frames))
            res = subprocess.run([OFFICEGUARD, "ingest", str(cap), "--config", str(cfg)],
                                 capture_output=True, text=True)
            assert res.returncode == 0, res.stderr
            assert sub.wait_for(lambda ms: any("/alerts/critical" in t for t, _p, _r in ms), 10)
            [alert] = [a for a in sub.alerts() if a["rule"] == "wifi.rogue_ap"]
            assert set(alert) >= ALERT_KEYS
            assert alert["measure"] == "3-8" and alert["severity"] == "critical"
            assert alert["subject"] == "00:13:37:00:00:66" and alert["change"] == "new"
            assert "Shibuya-Guest" in alert["message_ja"]
            assert alert["dashboard_url"] == "https://officeguard.local/"
            assert alert["finding_url"] == \
                f"https://officeguard.local/findings/{alert['finding_id']}"
        finally:
            agent.send_signal(signal.SIGTERM)
            assert agent.wait(15) == 0
        assert sub.wait_for(lambda ms: ms[-1][0].endswith("/status") and ms[-1][1] == b"offline"
                            if ms else False, 10)
        sub.close()
    finally:
        broker.stop()


def test_outage_of_the_broker_loses_nothing(tmp_path: Path, mosquitto: Broker) -> None:
    cfg = write_config(tmp_path, mosquitto.port)
    db = tmp_path / "data" / "officeguard.db"
    agent = start_agent(cfg, tmp_path / "agent.log")
    try:
        sub = Subscriber(mosquitto.port, "officeguard/site-a/status")
        assert sub.wait_for(lambda ms: any(p == b"online" for _t, p, _r in ms), 15)
        sub.close()
        mosquitto.stop()
        raise_findings(db, 1000)
        time.sleep(1.0)  # the agent tries, fails, and keeps the alerts
        mosquitto.start()
        sub = Subscriber(mosquitto.port, "officeguard/site-a/alerts/#")
        ok = sub.wait_for(lambda ms: len(ordered_unique(
            [json.loads(p) for t, p, _r in ms if t.endswith("/high")])) >= 1000, 60)
        assert ok, f"only {len(sub.alerts())} alerts arrived"
        assert ordered_unique(sub.alerts()) == outbox_subjects(db)  # all, in order
        sub.close()
    finally:
        agent.send_signal(signal.SIGTERM)
        agent.wait(15)
    conn = sqlite3.connect(db)
    unsent = [json.loads(p) for (p,) in conn.execute(
        "SELECT payload FROM outbox WHERE sent_at IS NULL")]
    assert not [u for u in unsent if u.get("rule") == "lan.arp_poisoning"]


def test_sigkill_mid_drain_loses_nothing_and_last_will_says_offline(
        tmp_path: Path, mosquitto: Broker) -> None:
    cfg = write_config(tmp_path, mosquitto.port)
    db = tmp_path / "data" / "officeguard.db"
    db.parent.mkdir(parents=True)
    raise_findings(db, 1000)
    sub = Subscriber(mosquitto.port, "officeguard/site-a/#")
    agent = start_agent(cfg, tmp_path / "agent.log")
    try:
        assert sub.wait_for(lambda ms: len([1 for t, _p, _r in ms if "/alerts/" in t]) >= 100,
                            30)
        agent.send_signal(signal.SIGKILL)
        agent.wait(10)
        assert sub.wait_for(lambda ms: any(t.endswith("/status") and p == b"offline"
                                           for t, p, _r in ms), 15), "no last will"
        got = len(ordered_unique(sub.alerts()))
        assert got < 1000, "the agent finished before it was killed: nothing was tested"
        agent = start_agent(cfg, tmp_path / "agent2.log")
        assert sub.wait_for(lambda ms: len(ordered_unique(
            [json.loads(p) for t, p, _r in ms if t.endswith("/high")])) >= 1000, 60)
        assert ordered_unique(sub.alerts()) == outbox_subjects(db)
    finally:
        agent.send_signal(signal.SIGTERM)
        agent.wait(15)
        sub.close()
    retained = Subscriber(mosquitto.port, "officeguard/site-a/status")
    assert retained.wait_for(lambda ms: bool(ms) and ms[-1][2], 10)  # retained
    assert retained.messages[-1][1] == b"offline"
    retained.close()


def test_alert_test_records_its_delivery(tmp_path: Path, mosquitto: Broker) -> None:
    cfg = write_config(tmp_path, mosquitto.port)
    sub = Subscriber(mosquitto.port, "officeguard/site-a/alerts/test")
    res = subprocess.run([OFFICEGUARD, "alert-test", "--config", str(cfg), "--by", "佐藤",
                          "--json"], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["delivered_at"] and doc["error"] is None
    assert sub.wait_for(lambda ms: bool(ms), 10)
    payload = json.loads(sub.messages[0][1])
    assert payload["alert_id"] == doc["alert_id"] and payload["measure"] == "1-3"
    sub.close()
    conn = sqlite3.connect(tmp_path / "data" / "officeguard.db")
    row = conn.execute("SELECT requested_by, delivered_at FROM alert_tests").fetchone()
    assert row[0] == "佐藤" and row[1] is not None
    mosquitto.stop()
    res = subprocess.run([OFFICEGUARD, "alert-test", "--config", str(cfg)], capture_output=True,
                         text=True)
    assert res.returncode == 1 and "NOT delivered" in res.stdout


def test_router_noise_control() -> None:
    r = og_mqtt.Router(per_rule_per_hour=3, global_per_hour=5, quiet_hours="22:00-07:00")
    night = time.mktime(time.strptime("2026-11-26 23:30", "%Y-%m-%d %H:%M"))
    day = time.mktime(time.strptime("2026-11-26 12:00", "%Y-%m-%d %H:%M"))
    assert r.route({"severity": "info", "rule": "a"}, day) == "digest"
    assert r.route({"severity": "low", "rule": "a"}, night) == "later"
    assert r.route({"severity": "high", "rule": "a"}, night) == "alert"
    r = og_mqtt.Router(per_rule_per_hour=3, global_per_hour=5)
    assert [r.route({"severity": "high", "rule": "a"}, day + i) for i in range(4)] == [
        "alert", "alert", "alert", "digest"]  # three per rule per hour
    assert [r.route({"severity": "high", "rule": f"r{i}"}, day + 10) for i in range(3)] == [
        "alert", "alert", "digest"]  # five in all per hour
    assert r.route({"severity": "high", "rule": "a"}, day + 3700) == "alert"  # an hour later
    unlimited = og_mqtt.Router(per_rule_per_hour=0, global_per_hour=0)
    assert {unlimited.route({"severity": "high", "rule": "a"}, day) for _ in range(500)} == {
        "alert"}


def test_retained_states_and_discovery() -> None:
    from appliance.compliance import Facts, evaluate
    from appliance.config import from_mapping
    from appliance.guideline import load_catalog

    doc = evaluate(load_catalog(), Facts())
    st = og_mqtt.retained_states({"compliance": doc, "health": {"sensors": []}})
    assert json.loads(st["level"])["label_ja"].startswith("推定")
    assert json.loads(st["measures/3-3"])["verdict"] == "unknown"
    assert st["categories/3"] in ("ON", "OFF") and "health" in st
    cfg = from_mapping({"facility": {"id": "site-a"}, "mqtt": {"discovery": True}})
    topics = [t for t, _p in og_mqtt.discovery_configs(cfg)]
    assert "homeassistant/sensor/officeguard_site-a/level/config" in topics
    assert sum("/binary_sensor/" in t for t in topics) == 6
    assert "homeassistant/event/officeguard_site-a/alert/config" in topics


def test_topics_are_documented() -> None:
    text = (ROOT / "docs" / "mqtt.md").read_text()
    for t in og_mqtt.TOPICS:
        assert f"`<prefix>/{t}`" in text, t


@pytest.mark.parametrize("key", sorted(ALERT_KEYS | {"dashboard_url"}))
def test_payload_keys_are_documented(key: str) -> None:
    assert f"`{key}`" in (ROOT / "docs" / "mqtt.md").read_text()


def test_mqtt5_and_home_assistant_discovery(tmp_path: Path, mosquitto: Broker) -> None:
    cfg = write_config(tmp_path, mosquitto.port, 'protocol = "5"\ndiscovery = true\n')
    db = tmp_path / "data" / "officeguard.db"
    sub = Subscriber(mosquitto.port, "#")
    agent = start_agent(cfg, tmp_path / "agent.log")
    try:
        assert sub.wait_for(lambda ms: any(t.endswith("/status") and p == b"online"
                                           for t, p, _r in ms), 15)
        assert sub.wait_for(lambda ms: sum(t.startswith("homeassistant/") for t, _p, _r in ms)
                            >= 8, 10)
        level_cfg = next(json.loads(p) for t, p, _r in sub.messages
                         if t == "homeassistant/sensor/officeguard_site-a/level/config")
        assert level_cfg["state_topic"] == "officeguard/site-a/level"
        raise_findings(db, 1)
        assert sub.wait_for(lambda ms: any(t.endswith("/alerts/latest") for t, _p, _r in ms), 10)
        latest = next(json.loads(p) for t, p, _r in sub.messages if t.endswith("/alerts/latest"))
        assert latest["event_type"] == "new"
        assert sub.wait_for(lambda ms: any(t.endswith("/level") for t, _p, _r in ms), 40)
        level = next(json.loads(p) for t, p, _r in sub.messages if t.endswith("/level"))
        assert level["label_ja"].startswith("推定") and "disclaimer_ja" in level
        assert sub.wait_for(lambda ms: any(t.endswith("/measures/3-8") for t, _p, _r in ms), 5)
        assert sub.wait_for(lambda ms: any(t.endswith("/health") for t, _p, _r in ms), 5)
    finally:
        agent.send_signal(signal.SIGTERM)
        agent.wait(15)
        sub.close()
