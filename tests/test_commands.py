"""The dashboard asks, the agent acts (#15): the web process only writes a row in `commands`;
the real agent (a process, or its loop on a thread) drains it with its own facilities and records
the outcome, which the dashboard shows. The probe testbed test is in tests/test_probe_live.py
(test_dashboard_probe_now_waits_for_the_scheduled_cycle)."""

from __future__ import annotations

import ast
import json
import random
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from appliance.config import Config, load
from appliance.store import Store
from appliance.store import commands as cmds
from appliance.store.commands import CommandKind
from tests.conftest import OFFICEGUARD, ROOT, Broker, end_process
from tests.webutil import PASSWORD, add_user, client, csrf

WEB = ROOT / "web"


def poll(pred: Callable[[], Any], timeout: float, what: str) -> Any:
    """PRED's first truthy value within TIMEOUT seconds (no fixed sleeps)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}: {pred()!r}")


def write_config(tmp: Path, extra: str = "") -> Path:
    p = tmp / "og.toml"
    p.write_text(f'[facility]\nid = "site-a"\nname = "Shibuya"\n[[facility.ssids]]\n'
                 f'name = "Shibuya-Guest"\n[interfaces]\nlan = "nonexistent0"\n'
                 f'[storage]\ndata_dir = "{tmp / "data"}"\nflush_interval_s = 1\n'
                 f'[web]\nsetup_code_file = "{tmp / "no-code"}"\nallowed_hosts = ["testserver"]\n'
                 + extra)
    return p


def start_agent(cfg: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as f:
        return subprocess.Popen([OFFICEGUARD, "agent", "--config", str(cfg)],
                                stdout=subprocess.DEVNULL, stderr=f)


def rows(db: Path, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
    """A read on a connection of its own. (Not a Store: opening and closing a second Store on
    the file while the dashboard's is open in this process leaves this process's later reads
    on an old snapshot; the web and the agent each keep one Store in their own process.)"""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def latest(db: Path, kind: CommandKind) -> cmds.Command | None:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        found = cmds.recent(conn, 1, kind)
    finally:
        conn.close()
    return found[0] if found else None


def test_test_alert_from_the_dashboard_is_sent_by_the_agent(tmp_path: Path,
                                                             mosquitto: Broker) -> None:
    from tests.test_mqtt import Subscriber

    path = write_config(tmp_path, f'[mqtt]\nhost = "127.0.0.1"\nport = {mosquitto.port}\n'
                                  'topic_prefix = "officeguard/site-a"\n')
    cfg = load(path)
    add_user(cfg)
    db = cfg.data_dir / "officeguard.db"
    sub = Subscriber(mosquitto.port, "officeguard/site-a/alerts/test")
    agent = None
    try:
        with client(cfg, login="manager") as c:
            token = csrf(c, "/settings")
            r = c.post("/settings/alert-test", data={"csrf": token})
            assert r.status_code == 303 and r.headers["location"] == \
                "/settings?msg=alert-requested"
            # the web process sent nothing: the request waits for the agent
            assert not sub.messages
            assert rows(db, "SELECT COUNT(*) AS n FROM alert_tests")[0]["n"] == 0
            audit = rows(db, "SELECT actor, action, detail FROM audit WHERE action = "
                             "'alert test'")
            assert audit and audit[0]["actor"] == "manager"
            page = c.get("/settings").text
            assert 'data-state="pending"' in page and "エージェントの実行待ち" in page
            agent = start_agent(path, tmp_path / "agent.log")
            done = poll(lambda: (x := latest(db, CommandKind.TEST_ALERT)) and x.finished_at
                        and x, 60, "the agent to send the test alert")
            assert done.state == cmds.CommandState.DONE, done.outcome
            assert done.outcome["delivered_at"] and done.outcome["broker"] == \
                f"127.0.0.1:{mosquitto.port}"
            assert sub.wait_for(lambda m: m, 10), "nothing reached the broker's subscriber"
            payload = json.loads(sub.messages[0][1])
            assert payload["requested_by"] == "manager" and payload["change"] == "test"
            page = c.get("/settings").text
            assert 'data-state="done"' in page and "テスト通知が配信されました" in page
            c.get("/lang/en")
            assert "Done" in c.get("/settings").text
        tests = rows(db, "SELECT requested_by, delivered_at FROM alert_tests")
        assert len(tests) == 1 and tests[0]["requested_by"] == "manager" and \
            tests[0]["delivered_at"]
    finally:
        sub.close()
        if agent is not None:
            end_process(agent)


def test_survey_start_and_stop_from_the_dashboard_are_recorded_by_the_agent(
        tmp_path: Path) -> None:
    path = write_config(tmp_path)
    cfg = load(path)
    add_user(cfg)
    db = cfg.data_dir / "officeguard.db"
    agent = start_agent(path, tmp_path / "agent.log")
    try:
        with client(cfg, login="manager") as c:
            token = csrf(c, "/wifi")
            r = c.post("/wifi/surveys", data={"csrf": token, "action": "start",
                                              "label": "2F window", "location": "outside",
                                              "seconds": "0"})
            assert r.status_code == 303
            started = poll(lambda: (x := latest(db, CommandKind.SURVEY_START)) and
                           x.finished_at and x, 60, "the agent to start the survey")
            assert started.state == cmds.CommandState.DONE, started.outcome
            sid = started.outcome["survey_id"]
            row = rows(db, "SELECT label, location, stopped_at FROM surveys WHERE id = ?",
                       (sid,))
            assert row and row[0]["label"] == "2F window" and row[0]["stopped_at"] is None
            page = c.get("/wifi").text
            assert 'id="command-survey_start"' in page and "2F window" in page
            r = c.post("/wifi/surveys", data={"csrf": token, "action": "stop", "label": ""})
            assert r.status_code == 303
            stopped = poll(lambda: (x := latest(db, CommandKind.SURVEY_STOP)) and
                           x.finished_at and x, 60, "the agent to stop the survey")
            assert stopped.state == cmds.CommandState.DONE and stopped.outcome["stopped"] == 1
            assert 'id="command-survey_stop"' in c.get("/wifi").text

        # the agent's capture loop took the survey up, and finished it (its verdicts) when
        # it was stopped
        log = tmp_path / "agent.log"
        poll(lambda: f"survey {sid} (2F window) started" in log.read_text(), 30,
             "the agent's loop to take the survey up")
        poll(lambda: f"survey {sid} finished" in log.read_text(), 30,
             "the agent's loop to finish the survey")
        actions = [r["action"] for r in rows(db, "SELECT action FROM audit ORDER BY id")]
        assert "survey start" in actions and "survey stop" in actions
    finally:
        end_process(agent)


def test_a_second_click_queues_nothing_and_viewers_cannot_ask(tmp_path: Path) -> None:
    path = write_config(tmp_path, '[probe]\nscope = ["192.0.2.0/24"]\n')
    cfg = load(path)
    add_user(cfg)
    add_user(cfg, "reader", "viewer")
    db = cfg.data_dir / "officeguard.db"
    with client(cfg, login="manager") as c:
        token = csrf(c, "/probes")
        assert c.post("/probes/run", data={"csrf": token}).status_code == 303
        assert c.post("/probes/run", data={"csrf": token}).status_code == 303
        assert c.post("/probes/run", data={}).status_code == 403  # no CSRF token
        page = c.get("/probes").text
        assert 'id="command-probe_now"' in page and 'id="run-probe" disabled' in page
        doc = c.get("/api/commands", params={"kind": "probe_now"}).json()
        assert [(x["kind"], x["state"], x["requested_by"]) for x in doc["commands"]] == [
            ("probe_now", "pending", "manager")]
        assert c.get("/api/commands", params={"kind": "rm -rf"}).status_code == 422
    with client(cfg, login="reader") as c:
        assert c.post("/probes/run", data={"csrf": csrf(c, "/probes")}).status_code == 403
        assert c.post("/exports/run", data={"csrf": csrf(c, "/exports")}).status_code == 403
    got = rows(db, "SELECT kind, state, requested_by FROM commands")
    assert [(r["kind"], r["state"], r["requested_by"]) for r in got] == [
        ("probe_now", "pending", "manager")]


def test_the_agent_records_a_probe_now_and_abandons_what_a_stopped_agent_left(
        tmp_path: Path) -> None:
    """A loopback-only scope (127.0.0.1): the real Agent object's drainer runs the cycle."""
    from agent.runner import Agent

    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen()
        port = srv.getsockname()[1]
        cfg = Config.model_validate({
            "interfaces": {"lan": "nonexistent0"}, "storage": {"data_dir": str(tmp_path)},
            "probe": {"scope": ["127.0.0.1/32"], "ports": [port]}})
        with Store(tmp_path / "officeguard.db") as store:
            stale = store.write(lambda c: cmds.request(c, CommandKind.TEST_ALERT, {}, "x", 1.0))
            store.write(lambda c: cmds.claim_next(c, 2.0))  # "running" when the agent died
            cid, _ = store.write(lambda c: cmds.request(c, CommandKind.PROBE_NOW, {}, "manager",
                                                        time.time()))
            agent = Agent(cfg, store)
            assert agent.commands.drain_once() == [cid]
            agent.commands.wait(60)
            got = store.read_with(lambda c: (cmds.get(c, stale[0]), cmds.get(c, cid)))
            runs = store.query("SELECT id, hosts, open_ports FROM probe_runs")
    assert got[0] is not None and got[0].state == cmds.CommandState.FAILED
    assert "stopped" in got[0].outcome["error"]
    assert got[1] is not None and got[1].state == cmds.CommandState.DONE, got[1].outcome
    assert got[1].outcome["hosts"] == 1 and got[1].outcome["run_id"] == runs[0]["id"]
    assert runs[0]["open_ports"] == 1


def test_scheduler_never_runs_a_dashboard_cycle_over_a_scheduled_one(tmp_path: Path) -> None:
    """run_now shares tick()'s lock: asked while a cycle runs, it waits, then runs its own."""
    import threading

    from agent.probe.jobs import Scheduler

    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen()
        port = srv.getsockname()[1]
        cfg = Config.model_validate({"storage": {"data_dir": str(tmp_path)}, "probe": {
            "scope": ["127.0.0.1/32"], "ports": [port], "jitter_s": 0}})
        with Store(tmp_path / "officeguard.db") as store:
            sch = Scheduler(cfg, store, rng=random.Random(1))
            assert sch.tick(time.monotonic() + 31)  # the scheduled cycle starts
            assert sch.busy
            out: dict[str, Any] = {}
            t = threading.Thread(target=lambda: out.update(sch.run_now("dashboard: manager")))
            t.start()
            assert not sch.tick(time.monotonic() + 10_000)  # and no third one meanwhile
            t.join(60)
            assert sch.running is not None
            sch.running.join(60)
            runs = store.query("SELECT started_at, finished_at FROM probe_runs ORDER BY id")
    assert out["error"] == "" and out["waited_for_cycle"] is True, out
    assert len(runs) == 2
    assert runs[1]["started_at"] >= runs[0]["finished_at"]  # one cycle at a time


def test_export_now_from_the_dashboard_is_written_by_the_agent(tmp_path: Path) -> None:
    path = write_config(tmp_path)
    cfg = load(path)
    add_user(cfg)
    db = cfg.data_dir / "officeguard.db"
    with client(cfg, login="manager") as c:
        token = csrf(c, "/exports")
        assert c.post("/exports/run", data={"csrf": token, "period": "13-2026"}
                      ).status_code in (400, 422)
        assert c.post("/exports/run", data={"csrf": token, "period": "2026-11"}
                      ).status_code == 303
        assert 'id="command-run_export"' in c.get("/exports").text
        assert not list((cfg.data_dir).glob("exports/*"))  # the web wrote nothing
        agent = start_agent(path, tmp_path / "agent.log")
        try:
            done = poll(lambda: (x := latest(db, CommandKind.RUN_EXPORT)) and x.finished_at
                        and x, 300, "the agent to write the export")
        finally:
            end_process(agent)
        assert done.state == cmds.CommandState.DONE, done.outcome
        assert done.outcome["period"] == "2026-11"
        assert Path(done.outcome["folder"], "manifest.sig").exists()
        page = c.get("/exports").text
        assert 'data-state="done"' in page and "2026-11" in page
        # the export made the signing key, and with it the public file the page reads
        assert "key-sha256" in page


# -- the web process starts nothing and imports nothing of the agent ---------------------------
SPAWNERS = {("subprocess", "Popen"), ("subprocess", "run"), ("subprocess", "call"),
            ("subprocess", "check_call"), ("subprocess", "check_output"), ("os", "system"),
            ("os", "popen"), ("os", "fork"), ("os", "execv"), ("os", "execvp"),
            ("os", "spawnv"), ("os", "posix_spawn"), ("asyncio", "create_subprocess_exec"),
            ("asyncio", "create_subprocess_shell"), ("multiprocessing", "Process")}


def _web_modules() -> list[Path]:
    return sorted(WEB.rglob("*.py"))


def test_web_starts_no_process_and_imports_nothing_of_the_agent() -> None:
    problems = []
    for path in _web_modules():
        tree = ast.parse(path.read_text(), str(path))
        rel = path.relative_to(ROOT)
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    top = a.name.split(".")[0]
                    if top in ("agent", "subprocess", "multiprocessing"):
                        problems.append(f"{rel}:{node.lineno} import {a.name}")
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                top = node.module.split(".")[0]
                if top in ("agent", "subprocess", "multiprocessing"):
                    problems.append(f"{rel}:{node.lineno} from {node.module} import")
                for a in node.names:
                    if (node.module, a.name) in SPAWNERS:
                        problems.append(f"{rel}:{node.lineno} from {node.module} import "
                                        f"{a.name}")
            elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and (
                    node.value.id, node.attr) in SPAWNERS:
                problems.append(f"{rel}:{node.lineno} {node.value.id}.{node.attr}")
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and \
                    node.func.id in ("__import__", "exec", "eval"):
                problems.append(f"{rel}:{node.lineno} {node.func.id}()")
    assert not problems, problems


def test_the_check_above_sees_what_it_looks_for(tmp_path: Path) -> None:
    """The walker is not blind: the patterns it rejects do parse into the nodes it looks at."""
    src = ("import subprocess\nfrom agent import survey\nimport os\nos.system('x')\n"
           "import asyncio\nasyncio.create_subprocess_exec('x')\n")
    tree = ast.parse(src)
    attrs = {(n.value.id, n.attr) for n in ast.walk(tree) if isinstance(n, ast.Attribute)
             and isinstance(n.value, ast.Name)}
    assert {("os", "system"), ("asyncio", "create_subprocess_exec")} <= attrs & SPAWNERS
    assert _web_modules() and WEB / "app.py" in _web_modules()


def test_the_web_process_never_loads_cryptography_nor_the_agent(tmp_path: Path) -> None:
    """A dashboard serving every page (exports with its signing key included) in a fresh
    interpreter: neither the cryptography library nor any agent module gets imported."""
    code = f"""
import sys
from pathlib import Path
from tests.webutil import add_user, client, config_for
from appliance import public_key
cfg = config_for(Path({str(tmp_path)!r}))
add_user(cfg)
cfg.data_dir.mkdir(parents=True, exist_ok=True)
public_key.write_info(cfg.data_dir, "-----BEGIN PUBLIC KEY-----\\nAAAA\\n", "ab:cd")
with client(cfg, login="manager") as c:
    for p in ("/", "/findings", "/wifi", "/devices", "/probes", "/exports", "/settings",
              "/system", "/rental", "/measures"):
        r = c.get(p)
        assert r.status_code == 200, (p, r.status_code)
    assert "ab:cd" in c.get("/exports").text
bad = sorted(m for m in sys.modules if m.split(".")[0] in ("cryptography", "agent"))
print(",".join(bad))
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       cwd=ROOT, timeout=120)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.strip() == "", r.stdout


def test_the_command_line_that_starts_the_web_does_not_load_cryptography() -> None:
    """`officeguard web` is the web process: building the parser (every command does) loads no
    cryptography (the catalog command imports its signature check when it runs)."""
    code = ("import sys\nfrom appliance.cli import build_parser\nbuild_parser()\n"
            "from appliance.cli import webprep\n"
            "print(sorted(m for m in sys.modules if m.startswith('cryptography'))[:3])")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                       timeout=60)
    assert r.returncode == 0 and r.stdout.strip() == "[]", (r.stdout, r.stderr[-2000:])


def test_unknown_passwords_cannot_ask(tmp_path: Path) -> None:
    path = write_config(tmp_path)
    cfg = load(path)
    add_user(cfg)
    with client(cfg) as c:
        r = c.post("/login", data={"username": "manager", "password": PASSWORD + "x",
                                    "next": "/"})
        assert r.status_code == 401
        assert c.post("/exports/run", data={}).status_code == 303  # to the login page
    assert latest(cfg.data_dir / "officeguard.db", CommandKind.RUN_EXPORT) is None


def test_web_prepare_makes_the_certificate_and_the_public_key_file(tmp_path: Path) -> None:
    """`officeguard web-prepare` (the web unit's ExecStartPre=) makes what the web process
    only reads: its certificate, and the signing key's public half once the key exists."""
    from appliance import public_key, signing

    path = write_config(tmp_path)
    cfg = load(path)
    r = subprocess.run([OFFICEGUARD, "web-prepare", "--config", str(path)], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert (cfg.data_dir / "tls" / "web.crt").exists() and (cfg.data_dir / "tls" / "web.key"
                                                            ).stat().st_mode & 0o077 == 0
    assert public_key.read_info(cfg.data_dir) is None  # no key yet: nothing invented
    key = signing.load_or_create_key(cfg.data_dir)
    public_key.info_path(cfg.data_dir).unlink()  # e.g. a key made before this version
    r = subprocess.run([OFFICEGUARD, "web-prepare", "--config", str(path)], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    info = public_key.read_info(cfg.data_dir)
    assert info == {"pem": signing.public_pem(key).decode(), "sha256": signing.fingerprint(key)}
