"""Evidence and expiry reach people: the real agent, a real mosquitto. A removed evidence file
becomes an `evidence.invalid` alert of its measure; an attestation about to expire becomes a
`notices/expiry` message, once."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
from pathlib import Path

from tests.conftest import OFFICEGUARD, Broker
from tests.test_mqtt import Subscriber, write_config


def test_removed_evidence_alerts_and_expiry_is_noticed(tmp_path: Path, mosquitto: Broker
                                                       ) -> None:
    cfg = write_config(tmp_path, mosquitto.port, "expiry_notice_days = 14\n")
    cfg.write_text(cfg.read_text() + "[agent]\nevidence_every_s = 1\n")  # look every second
    env = dict(os.environ)
    for measure, check, days in (("1-1", "policy", "365"), ("3-4", "passphrase", "10")):
        f = tmp_path / f"{measure}.pdf"
        f.write_bytes(f"evidence {measure}".encode())
        r = subprocess.run([OFFICEGUARD, "attest", measure, "--check", check, "--valid-days",
                            days, "--evidence", str(f), "--config", str(cfg), "--json"],
                           capture_output=True, text=True, env=env)
        assert r.returncode == 0, r.stderr
        if measure == "1-1":
            sha = json.loads(r.stdout)["evidence"][0]["sha256"]
    (tmp_path / "data" / "evidence" / sha).unlink()
    sub = Subscriber(mosquitto.port, "officeguard/site-a/#")
    with (tmp_path / "agent.log").open("ab") as log:
        agent = subprocess.Popen([OFFICEGUARD, "agent", "--config", str(cfg)], env=env,
                                 stdout=subprocess.DEVNULL, stderr=log)
    try:
        assert sub.wait_for(lambda ms: any(json.loads(p).get("rule") == "evidence.invalid"
                                           for t, p, _r in ms if "/alerts/high" in t), 60), (
            (tmp_path / "agent.log").read_text()[-2000:])
        alert = next(json.loads(p) for t, p, _r in sub.messages if "/alerts/high" in t
                     and json.loads(p).get("rule") == "evidence.invalid")
        assert alert["measure"] == "1-1" and alert["change"] == "new"
        assert sub.wait_for(lambda ms: any(t.endswith("/notices/expiry") for t, _p, _r in ms),
                            30)
        notices = [json.loads(p) for t, p, _r in sub.messages if t.endswith("/notices/expiry")]
        assert [(n["measure"], n["check"]) for n in notices] == [("3-4", "passphrase")]
        assert notices[0]["title_ja"].startswith("証跡の有効期限が近づいています")
    finally:
        agent.send_signal(signal.SIGTERM)
        agent.wait(15)
        sub.close()
    # sent once, though the agent looked every second
    conn = sqlite3.connect(tmp_path / "data" / "officeguard.db")
    n = conn.execute("SELECT COUNT(*) FROM outbox WHERE topic = 'notices/expiry'").fetchone()[0]
    conn.close()
    assert n == 1


def test_expiry_notice_is_also_e_mailed_when_configured(tmp_path: Path, mosquitto: Broker
                                                        ) -> None:
    """With exports.email_to and smtp_host set, the notice that goes to MQTT also goes out by
    e-mail over STARTTLS (a real SMTP server on loopback), once."""
    import email
    import time

    from tests.conftest import SmtpServer

    smtp = SmtpServer(tmp_path).__enter__()
    received = smtp.received
    cfg = write_config(tmp_path, mosquitto.port, "expiry_notice_days = 14\n")
    cfg.write_text(cfg.read_text() + smtp.toml("staff@example.jp")
                   + "\n[agent]\nevidence_every_s = 1\n")  # the agent looks every second
    env = dict(os.environ)
    f = tmp_path / "psk.jpg"
    f.write_bytes(b"photo of the posted passphrase")
    r = subprocess.run([OFFICEGUARD, "attest", "3-4", "--check", "passphrase", "--valid-days",
                        "10", "--evidence", str(f), "--config", str(cfg)],
                       capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    with (tmp_path / "agent.log").open("ab") as log:
        agent = subprocess.Popen([OFFICEGUARD, "agent", "--config", str(cfg)], env=env,
                                 stdout=subprocess.DEVNULL, stderr=log)
    try:
        deadline = time.monotonic() + 90
        while not received and time.monotonic() < deadline and agent.poll() is None:
            time.sleep(0.2)
        assert received, (tmp_path / "agent.log").read_text()[-2000:]
        # the agent looks every second: wait until it has looked twice more after sending
        sent_at = time.monotonic()
        while time.monotonic() - sent_at < 3 * 1.0 + 5 and agent.poll() is None:
            time.sleep(0.2)
    finally:
        agent.send_signal(signal.SIGTERM)
        agent.wait(15)
        smtp.__exit__()
    msg = email.message_from_bytes(received[0])
    body = msg.get_payload(decode=True).decode("utf-8")  # type: ignore[union-attr]
    assert "3-4 passphrase" in body and "証跡" in str(email.header.make_header(
        email.header.decode_header(msg["Subject"])))
    assert msg["To"] == "staff@example.jp"
    assert len(received) == 1  # the notice is made once, so it is mailed once
