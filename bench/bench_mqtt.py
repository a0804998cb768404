"""MQTT alert latency and outbox drain throughput, against a real mosquitto on loopback.

    make bench            (or: .venv/bin/python bench/bench_mqtt.py --alerts 1000)

Latency: a finding is written (with its outbox row, as the pipeline writes it) while the agent
runs; the clock stops when a subscriber receives the alert. Throughput: the agent starts with a
full outbox and drains it to a subscriber.
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from appliance.findings import FindingDraft, apply_drafts  # noqa: E402
from appliance.store import Store  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--alerts", type=int, default=1000)
    ap.add_argument("--backlog", type=int, default=5000)
    args = ap.parse_args()
    exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    officeguard = str(Path(sys.executable).with_name("officeguard"))
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        conf = Path(tmp) / "m.conf"
        conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\nuser root\n")
        broker = subprocess.Popen([exe, "-c", str(conf)], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        got: dict[str, float] = {}
        lock = threading.Condition()

        def on_msg(_c: object, _u: object, m: mqtt.MQTTMessage) -> None:
            with lock:
                got.setdefault(json.loads(m.payload)["subject"], time.time())
                lock.notify_all()

        sub = mqtt.Client(CallbackAPIVersion.VERSION2)
        sub.on_message = on_msg
        sub.connect("127.0.0.1", port)
        sub.subscribe("officeguard/bench/alerts/#", qos=1)
        sub.loop_start()
        db = Path(tmp) / "data" / "officeguard.db"
        cfg = Path(tmp) / "og.toml"
        cfg.write_text(f'[facility]\nid = "bench"\n[interfaces]\nlan = "none0"\n'
                       f'[storage]\ndata_dir = "{db.parent}"\n'
                       f'[mqtt]\nhost = "127.0.0.1"\nport = {port}\n')

        def wait(n: int, timeout: float) -> bool:
            deadline = time.time() + timeout
            with lock:
                while len(got) < n and time.time() < deadline:
                    lock.wait(0.5)
            return len(got) >= n

        def raise_findings(store: Store, n: int, prefix: str, pace: float) -> dict[str, float]:
            raised = {}
            for i in range(n):
                subj = f"{prefix}{i}"
                raised[subj] = time.time()
                store.write(lambda c, s=subj: apply_drafts(c, [FindingDraft(
                    "lan.arp_poisoning", "3-8", "high", s, "t", "t", time.time())]))
                if pace:
                    time.sleep(pace)
            return raised

        # throughput: a full outbox, then the agent starts
        db.parent.mkdir(parents=True)
        with Store(db) as store:
            for k in range(0, args.backlog, 500):
                store.write(lambda c, k=k: apply_drafts(c, [FindingDraft(
                    "lan.arp_poisoning", "3-8", "high", f"b{i}", "t", "t", 0.0)
                    for i in range(k, min(args.backlog, k + 500))]))
        t0 = time.time()
        agent = subprocess.Popen([officeguard, "agent", "--config", str(cfg)],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        ok = wait(args.backlog, 120)
        drain = time.time() - t0
        print(f"outbox drain: {len(got):,} alerts in {drain:.2f} s "
              f"({len(got) / drain:,.0f} alerts/s, including the agent's start-up)"
              + ("" if ok else " — INCOMPLETE"))
        # latency: findings raised one by one while the agent runs
        got.clear()
        with Store(db) as store:
            raised = raise_findings(store, args.alerts, "l", 0.005)
        ok = wait(args.alerts, 60)
        lat = sorted(got[s] - raised[s] for s in raised if s in got)
        p95 = lat[int(len(lat) * 0.95) - 1] if lat else float("nan")
        print(f"latency finding → subscriber over {len(lat):,} alerts: median "
              f"{statistics.median(lat) * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, max "
              f"{lat[-1] * 1000:.0f} ms" + ("" if ok else " — INCOMPLETE"))
        agent.send_signal(signal.SIGTERM)
        agent.wait(15)
        sub.loop_stop()
        broker.terminate()
        broker.wait(10)


if __name__ == "__main__":
    main()
