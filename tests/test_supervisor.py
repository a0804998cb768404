"""The agent as a small supervisor: registered periodic jobs on intervals from the config; a job
that raises is logged, counted and reported, and the others go on (agent/supervisor.py)."""

from __future__ import annotations

import json
import logging
import os
import signal
import sqlite3
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from agent.runner import Agent
from agent.supervisor import Job, Supervisor
from appliance.config import Config
from appliance.store import Store
from tests import wifigen as g
from tests.conftest import OFFICEGUARD
from tests.test_monitor import USB, FakeRadio, fake_iw


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_registry_names_order_and_refusals() -> None:
    sup = Supervisor()
    ran: list[str] = []
    for name in ("flush", "health", "heartbeat"):
        sup.add(Job(name, 1.0, lambda n=name: ran.append(n)))  # type: ignore[misc]
    assert sup.names == ["flush", "health", "heartbeat"]
    with pytest.raises(ValueError, match="already registered"):
        sup.add(Job("health", 5.0, lambda: None))
    with pytest.raises(ValueError, match="every_s must be > 0"):
        sup.add(Job("never", 0.0, lambda: None))
    sup.tick()
    assert ran == ["flush", "health", "heartbeat"]  # in registration order
    sup.remove("health")
    assert sup.names == ["flush", "heartbeat"]
    assert set(sup.status()) == {"flush", "heartbeat"}


def test_each_job_runs_on_its_own_interval() -> None:
    clock = FakeClock()
    sup = Supervisor(monotonic=clock)
    runs: dict[str, int] = {"fast": 0, "slow": 0, "late": 0}

    def count(name: str) -> None:
        runs[name] += 1

    sup.add(Job("fast", 1.0, lambda: count("fast")))
    sup.add(Job("slow", 10.0, lambda: count("slow")))
    sup.add(Job("late", 5.0, lambda: count("late"), first_after_s=5.0))
    for _ in range(40):  # 20 s in steps of 0.5 s (exact in binary)
        sup.tick()
        clock.t += 0.5
    # fast at 0, 1, ..., 19; slow at 0 and 10; late at 5, 10 and 15
    assert runs["fast"] == 20 and runs["slow"] == 2 and runs["late"] == 3
    sup.soon("slow")  # e.g. the heartbeat right after the settings changed
    sup.tick()
    assert runs["slow"] == 3
    before = runs["late"]
    sup.run_now("late")  # whether due or not
    assert runs["late"] == before + 1 and sup.status()["late"]["runs"] == before + 1


def test_a_failing_job_is_counted_reported_and_does_not_stop_the_others(
        caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    sup = Supervisor(monotonic=clock)
    good: list[float] = []
    broken = {"on": True}

    def boom() -> None:
        if broken["on"]:
            raise OSError("disk on fire")

    sup.add(Job("first", 1.0, lambda: good.append(clock.t)))
    sup.add(Job("boom", 1.0, boom))
    sup.add(Job("after", 1.0, lambda: good.append(clock.t)))
    with caplog.at_level(logging.ERROR, logger="agent.supervisor"):
        for _ in range(3):
            sup.tick()
            clock.t += 1.0
    assert len(good) == 6  # the jobs before and after the broken one ran every time
    st = sup.status()["boom"]
    assert st["runs"] == 3 and st["errors"] == 3 and st["ok"] is False
    assert st["last_error"] == "OSError: disk on fire" and st["last_error_at"]
    assert st["last_ok_at"] is None
    assert sup.status()["first"]["errors"] == 0 and sup.status()["first"]["ok"] is True
    failures = [r for r in caplog.records if "job boom failed" in r.getMessage()]
    assert len(failures) == 3
    assert failures[0].exc_info is not None  # the traceback once, then one line each
    assert all(r.exc_info is None for r in failures[1:])
    broken["on"] = False
    sup.tick()
    st = sup.status()["boom"]
    assert st["ok"] is True and st["errors"] == 3 and st["last_ok_at"] is not None
    assert st["last_error"] == "OSError: disk on fire"  # the last error stays visible


def test_the_agent_takes_its_intervals_and_thresholds_from_the_config(tmp_path: Path) -> None:
    cfg = Config.model_validate({
        "interfaces": {"lan": "nonexistent0"},
        "storage": {"data_dir": str(tmp_path)},
        "agent": {"health_every_s": 7, "heartbeat_s": 2, "evidence_every_s": 90,
                  "export_check_s": 120, "prune_every_s": 3600},
        "health": {"disk_min_free_mb": 128, "temp_max_c": 70}})
    with Store(tmp_path / "officeguard.db") as store:
        agent = Agent(cfg, store, iw=fake_iw(USB))
        jobs = agent.status_doc()["jobs"]
    assert {k: v["every_s"] for k, v in jobs.items() if k in (
        "health", "heartbeat", "evidence", "export", "retention")} == {
        "health": 7.0, "heartbeat": 2.0, "evidence": 90.0, "export": 120.0,
        "retention": 3600.0}
    assert {"flush", "surveys", "probes", "settings"} <= set(jobs)
    assert agent.config.health.disk_min_free_mb == 128.0


def test_health_thresholds_from_the_config_decide_the_findings() -> None:
    from agent.health import HealthReading, health_drafts
    from appliance.config import from_mapping

    hot = HealthReading(0, cpu_temp_c=75.0, capture_packets=1000, capture_drops=20)
    default = {d.rule for d in health_drafts(hot, from_mapping({}).health) if not d.clear}
    assert default == {"health.capture_drops"}  # 2 % dropped; 75 °C is below 80
    strict = from_mapping({"health": {"temp_max_c": 70, "capture_drops_max_pct": 5}}).health
    assert {d.rule for d in health_drafts(hot, strict) if not d.clear} == {
        "health.overheating"}


def test_a_real_agent_run_reports_a_failing_job_and_keeps_capturing(tmp_path: Path) -> None:
    """The real agent loop on a thread with a real store and a (fake) radio: a job that always
    raises is in the heartbeat with its errors, while frames still become findings and the
    other jobs keep their rhythm."""
    guest, evil = "02:00:5e:10:00:01", "00:13:37:00:00:66"
    cfg = Config.model_validate({
        "facility": {"ssids": [{"name": "Shibuya-Guest", "bssids": [guest]}]},
        "interfaces": {"lan": "nonexistent0", "monitor": "wlan1mon"},
        "storage": {"data_dir": str(tmp_path), "flush_interval_s": 1},
        "agent": {"heartbeat_s": 1, "health_every_s": 1}})
    radio = FakeRadio()

    def broken() -> None:
        raise RuntimeError("this job always fails")

    with Store(tmp_path / "officeguard.db") as store:
        agent = Agent(cfg, store, iw=fake_iw(USB), wifi_source=radio)
        agent.supervisor.add(Job("broken", 0.2, broken))  # registering a job: one line
        t = threading.Thread(target=agent.run)
        t.start()
        try:
            radio.send([g.radiotap(g.beacon(evil, "Shibuya-Guest", security="OPEN"))] * 5)

            def doc() -> dict[str, Any]:
                return json.loads(store.get_meta("agent") or "{}")  # type: ignore[no-any-return]

            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and not (
                    store.query("SELECT 1 FROM findings WHERE rule = 'wifi.rogue_ap'")
                    and doc().get("jobs", {}).get("broken", {}).get("errors", 0) >= 3
                    and doc()["jobs"]["health"]["runs"] >= 2):
                time.sleep(0.05)
            beat = doc()
        finally:
            agent.stop.set()
            t.join(30)
            radio.close()
        assert not t.is_alive()
        assert store.query("SELECT 1 FROM findings WHERE rule = 'wifi.rogue_ap'")
        jobs = beat["jobs"]
        assert jobs["broken"]["errors"] >= 3 and jobs["broken"]["ok"] is False
        assert jobs["broken"]["last_error"] == "RuntimeError: this job always fails"
        assert jobs["health"]["runs"] >= 2 and jobs["health"]["errors"] == 0
        assert jobs["heartbeat"]["ok"] is True and jobs["flush"]["errors"] == 0
        final = json.loads(store.get_meta("agent") or "{}")
        assert final["running"] is False  # the clean stop was recorded
    res = subprocess.run([OFFICEGUARD, "status", "--db", str(tmp_path / "officeguard.db")],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert "job broken: " in res.stdout and "still failing" in res.stdout
    assert "RuntimeError: this job always fails" in res.stdout
    assert "job health" not in res.stdout  # only the jobs that failed are listed


def test_the_agent_command_runs_jobs_on_configured_intervals(tmp_path: Path) -> None:
    """`officeguard agent` as a process: the heartbeat every second and the health job every
    second come from `[agent]` (no environment variable), and the status document shows them."""
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[interfaces]\nlan = "nonexistent0"\n[storage]\ndata_dir = '
                   f'"{tmp_path / "data"}"\n[agent]\nheartbeat_s = 1\nhealth_every_s = 1\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("OFFICEGUARD_")}
    with (tmp_path / "agent.log").open("ab") as log:
        proc = subprocess.Popen([OFFICEGUARD, "agent", "--config", str(cfg)], env=env,
                                stdout=subprocess.DEVNULL, stderr=log)
    db = tmp_path / "data" / "officeguard.db"
    beat: dict[str, Any] = {}
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
                row = conn.execute("SELECT value FROM meta WHERE key = 'agent'").fetchone()
                conn.close()
            except sqlite3.Error:
                row = None
            beat = json.loads(row[0]) if row else {}
            if beat.get("jobs", {}).get("health", {}).get("runs", 0) >= 3:
                break
            time.sleep(0.2)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    assert beat.get("jobs"), (tmp_path / "agent.log").read_text()[-2000:]
    assert beat["jobs"]["health"]["every_s"] == 1.0 and beat["jobs"]["health"]["runs"] >= 3
    assert beat["jobs"]["heartbeat"]["every_s"] == 1.0
    assert beat["jobs"]["health"]["errors"] == 0
    assert proc.returncode == 0


def test_the_watchdog_is_pinged_while_the_clock_is_not_set(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A Pi waiting for NTP records nothing, but it is not hung: the watchdog job runs (and no
    job that writes dated rows does), so systemd does not restart it over and over."""
    import socket

    sock_path = tmp_path / "notify"
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    srv.bind(str(sock_path))
    srv.settimeout(15)
    monkeypatch.setenv("NOTIFY_SOCKET", str(sock_path))
    monkeypatch.setenv("WATCHDOG_USEC", "400000")
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    cfg = Config.model_validate({
        "interfaces": {"lan": "nonexistent0"}, "storage": {"data_dir": str(tmp_path)},
        "agent": {"health_every_s": 1}})
    with Store(tmp_path / "officeguard.db") as store:
        agent = Agent(cfg, store, iw=fake_iw(USB), clock=lambda: 86400.0)  # 1970-01-02
        t = threading.Thread(target=agent.run)
        t.start()
        try:
            got = [srv.recv(4096).decode() for _ in range(4)]
            jobs = agent.supervisor.status()
        finally:
            agent.stop.set()
            t.join(30)
            srv.close()
    assert got[0].startswith("READY=1")
    assert sum(m.startswith("WATCHDOG=1") for m in got[1:]) >= 2
    assert jobs["watchdog"]["runs"] >= 2
    assert jobs["health"]["runs"] == 0 and jobs["flush"]["runs"] == 0  # nothing dated
