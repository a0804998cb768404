"""Issue #14, before login: what any host on the shared LAN can send the dashboard.

The limits that live in uvicorn's options (forwarded headers, Host) are tested against the real
`officeguard web` on a loopback port; the rest through the app in-process.
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from appliance.store import Store
from tests.conftest import OFFICEGUARD, free_port
from tests.webutil import PASSWORD, add_user, client, config_for
from web.app import create_app


@pytest.fixture
def web_server(tmp_path: Path) -> Iterator[dict[str, object]]:
    """The real `officeguard web` (plain HTTP on loopback), with one admin account."""
    port = free_port()
    cfg_file = tmp_path / "og.toml"
    cfg_file.write_text(f'[storage]\ndata_dir = "{tmp_path / "data"}"\n'
                        f'[web]\nhost = "127.0.0.1"\nport = {port}\n'
                        f'setup_code_file = "{tmp_path / "none"}"\nmax_body_kib = 1024\n')
    cfg = config_for(tmp_path)
    add_user(cfg)
    env = {**os.environ, "OFFICEGUARD_CONFIG": str(cfg_file)}
    log = (tmp_path / "web.log").open("wb")
    proc = subprocess.Popen([OFFICEGUARD, "web", "--insecure-http"], env=env,
                            stdout=subprocess.DEVNULL, stderr=log)
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("web did not start: " +
                                   (tmp_path / "web.log").read_text()[-2000:]) from None
            time.sleep(0.1)
    try:
        yield {"port": port, "pid": proc.pid, "db": tmp_path / "data" / "officeguard.db"}
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def _conn(port: int) -> http.client.HTTPConnection:
    return http.client.HTTPConnection("127.0.0.1", port, timeout=30)


def test_a_400_mb_body_is_refused_before_it_is_read(web_server: dict[str, object]) -> None:
    port = int(str(web_server["port"]))
    c = _conn(port)
    # declared: refused on the header, before a byte of the body
    c.putrequest("POST", "/api/findings/1/status")
    c.putheader("Content-Type", "application/json")
    c.putheader("Content-Length", str(400 * 1024 * 1024))
    c.endheaders()
    c.send(b'{"status": "' + b"a" * 65536)
    r = c.getresponse()
    assert r.status == 413
    assert r.getheader("x-content-type-options") == "nosniff"
    c.close()
    # streamed without a length: cut off at the cap while it arrives
    c = _conn(port)
    c.putrequest("POST", "/api/findings/1/status")
    c.putheader("Content-Type", "application/json")
    c.putheader("Transfer-Encoding", "chunked")
    c.endheaders()
    status = 0
    try:
        chunk = b"a" * 65536
        for _ in range(64):  # 4 MiB offered; the cap is 1 MiB
            c.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        c.send(b"0\r\n\r\n")
        status = c.getresponse().status
    except (BrokenPipeError, ConnectionResetError):
        status = 413  # the server closed the connection after answering
    assert status == 413
    c.close()
    # (the web process's memory during such bodies is measured in bench/bench_hostile_web.py)


def test_forwarded_for_from_loopback_does_not_change_the_client_address(
        web_server: dict[str, object]) -> None:
    port = int(str(web_server["port"]))
    for _ in range(2):
        c = _conn(port)
        c.request("POST", "/login", body="username=manager&password=wrong-password-1",
                  headers={"Content-Type": "application/x-www-form-urlencoded",
                           "X-Forwarded-For": "203.0.113.77", "Host": "localhost"})
        assert c.getresponse().status == 401
        c.close()
    store = Store(Path(str(web_server["db"])))
    try:
        ips = {r["ip"] for r in store.query("SELECT ip FROM login_failures")}
    finally:
        store.close()
    assert ips == {"127.0.0.1"}


def test_unknown_host_names_are_refused_and_never_redirected_to(
        web_server: dict[str, object]) -> None:
    port = int(str(web_server["port"]))
    c = _conn(port)
    c.request("GET", "/findings/", headers={"Host": "evil.example"})
    r = c.getresponse()
    assert r.status == 400 and r.getheader("location") is None
    r.read()
    c.request("GET", "/login", headers={"Host": f"127.0.0.1:{port}"})
    r = c.getresponse()
    assert r.status == 200
    c.close()


def test_setup_codes_lock_only_the_address_that_guessed(tmp_path: Path,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    cfg = config_for(tmp_path, lockout_failures=3, lockout_minutes=1)
    app = create_app(cfg)
    form = {"code": "NOPE-NOPE-NOPE", "username": "boss", "password": PASSWORD,
            "password2": PASSWORD}
    with TestClient(app, base_url="https://testserver", follow_redirects=False,
                    client=("192.0.2.66", 5000)) as bad:
        code = (cfg.data_dir / "setup-code").read_text().strip()
        with caplog.at_level(logging.WARNING, logger="officeguard.web"):
            caplog.clear()  # the start-up announcement is the one time the code is logged
            for _ in range(5):
                bad.post("/setup", data=form)
        assert bad.post("/setup", data=form).status_code == 429
        # each wrong try does not print the real code into the log again
        assert sum(code in r.getMessage() for r in caplog.records) == 0
    with TestClient(app, base_url="https://testserver", follow_redirects=False,
                    client=("192.0.2.10", 5000)) as good:
        r = good.post("/setup", data={**form, "code": code})
        assert r.status_code == 303 and r.headers["location"] == "/"


def test_setup_lock_ends_after_lockout_minutes(tmp_path: Path) -> None:
    from web import security as sec

    cfg = config_for(tmp_path, lockout_failures=2, lockout_minutes=1)
    store = Store(cfg.data_dir / "officeguard.db")
    try:
        old = time.time() - 120  # two minutes ago: outside a one-minute window
        store.write(lambda c: c.executemany(
            "INSERT INTO login_failures (username, ip, ts) VALUES ('#setup', ?, ?)",
            [("192.0.2.1", old)] * 5))
        assert not store.read_with(lambda c: sec.setup_locked(c, cfg, "192.0.2.1"))
        store.write(lambda c: sec.setup_failed(c, "192.0.2.1"))
        store.write(lambda c: sec.setup_failed(c, "192.0.2.1"))
        assert store.read_with(lambda c: sec.setup_locked(c, cfg, "192.0.2.1"))
    finally:
        store.close()


def test_a_neighbour_guessing_does_not_lock_the_manager_out(tmp_path: Path) -> None:
    cfg = config_for(tmp_path, lockout_failures=3)
    add_user(cfg)
    app = create_app(cfg)
    with TestClient(app, base_url="https://testserver", follow_redirects=False,
                    client=("192.0.2.66", 5000)) as bad:
        for _ in range(4):
            bad.post("/login", data={"username": "manager", "password": "wrong-password-1"})
        assert bad.post("/login", data={"username": "manager",
                                        "password": PASSWORD}).status_code == 429
    with TestClient(app, base_url="https://testserver", follow_redirects=False,
                    client=("192.0.2.10", 5000)) as good:
        assert good.post("/login", data={"username": "manager",
                                         "password": PASSWORD}).status_code == 303


def test_login_posted_from_another_site_is_refused(tmp_path: Path) -> None:
    cfg = config_for(tmp_path)
    add_user(cfg)
    with client(cfg) as c:
        r = c.post("/login", data={"username": "manager", "password": PASSWORD},
                   headers={"Origin": "https://evil.example"})
        assert r.status_code == 403 and "og_session" not in r.headers.get("set-cookie", "")
        # a browser on another site that hides its origin (no-referrer: Origin null)
        r = c.post("/login", data={"username": "manager", "password": PASSWORD},
                   headers={"Origin": "null", "Sec-Fetch-Site": "cross-site"})
        assert r.status_code == 403
        # our own form: browsers send Origin null under our no-referrer policy, but say
        # same-origin in Sec-Fetch-Site
        r = c.post("/login", data={"username": "manager", "password": PASSWORD},
                   headers={"Origin": "null", "Sec-Fetch-Site": "same-origin"})
        assert r.status_code == 303
        r = c.post("/login", data={"username": "manager", "password": PASSWORD},
                   headers={"Origin": "https://testserver"})
        assert r.status_code == 303


def test_huge_ids_are_404_and_errors_keep_the_security_headers(tmp_path: Path) -> None:
    cfg = config_for(tmp_path)
    add_user(cfg)
    with client(cfg, login="manager") as c:
        for path in ("/findings/99999999999999999999", "/findings/-1",
                     "/exports/99999999999999999999/download"):
            r = c.get(path)
            assert r.status_code == 404, (path, r.status_code)
    app = create_app(cfg)

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("a bug")

    with TestClient(app, base_url="https://testserver", raise_server_exceptions=False) as c:
        r = c.get("/boom")
        assert r.status_code == 500
        assert r.headers["x-frame-options"] == "DENY"
        assert "default-src 'self'" in r.headers["content-security-policy"]
        assert "a bug" not in r.text


def _session_count(cfg: object, username: str) -> int:
    from appliance.config import Config

    assert isinstance(cfg, Config)
    with Store(cfg.db_path) as store:
        return int(store.query("SELECT COUNT(*) AS n FROM sessions s JOIN users u ON "
                               "u.id = s.user_id WHERE u.username = ?", (username,))[0]["n"])


def test_admin_disables_a_user_ends_sessions_and_sets_a_password(tmp_path: Path) -> None:
    from tests.webutil import csrf

    cfg = config_for(tmp_path)
    add_user(cfg)
    add_user(cfg, "staff", "viewer")
    with client(cfg, login="staff") as staff, client(cfg, login="manager") as boss:
        assert staff.get("/findings").status_code == 200
        token = csrf(boss, "/settings")
        r = boss.post("/settings/users/manage", data={"csrf": token, "username": "staff",
                                                      "action": "end-sessions"})
        assert r.headers["location"] == "/settings?msg=sessions-ended"
        assert staff.get("/findings").status_code == 303  # logged out
        assert _session_count(cfg, "staff") == 0
        staff.post("/login", data={"username": "staff", "password": PASSWORD})
        r = boss.post("/settings/users/manage", data={"csrf": token, "username": "staff",
                                                      "action": "disable"})
        assert r.headers["location"] == "/settings?msg=user-disabled"
        assert staff.get("/findings").status_code == 303
        assert staff.post("/login", data={"username": "staff",
                                          "password": PASSWORD}).status_code == 401
        # the last enabled administrator cannot lock everyone out
        r = boss.post("/settings/users/manage", data={"csrf": token, "username": "manager",
                                                      "action": "disable"})
        assert "last" in r.headers["location"]
        boss.post("/settings/users/manage", data={"csrf": token, "username": "staff",
                                                  "action": "enable"})
        new = "another-long-pass-77"
        r = boss.post("/settings/users/manage", data={"csrf": token, "username": "staff",
                                                      "action": "password", "password": new})
        assert r.headers["location"] == "/settings?msg=password-changed"
        assert staff.post("/login", data={"username": "staff",
                                          "password": new}).status_code == 303
        # a viewer cannot manage anyone
        r = staff.post("/settings/users/manage", data={"csrf": csrf(staff, "/settings"),
                                                       "username": "manager",
                                                       "action": "disable"})
        assert r.status_code == 403
    with Store(cfg.db_path) as store:
        actions = [r["action"] for r in store.query("SELECT action FROM audit ORDER BY id")]
    for a in ("sessions ended", "user disabled", "user enabled", "password changed"):
        assert a in actions, a


def test_a_user_changes_their_own_password(tmp_path: Path) -> None:
    from tests.webutil import csrf

    cfg = config_for(tmp_path)
    add_user(cfg, "staff", "viewer")
    with client(cfg, login="staff") as other, client(cfg, login="staff") as c:
        token = csrf(c, "/settings")
        new = "my-own-new-pass-42"
        r = c.post("/account/password", data={"csrf": token, "current": "wrong-one-1234",
                                              "password": new, "password2": new})
        assert "current" in r.headers["location"]
        r = c.post("/account/password", data={"csrf": token, "current": PASSWORD,
                                              "password": new, "password2": new})
        assert r.headers["location"] == "/settings?msg=password-changed"
        assert c.get("/findings").status_code == 200  # this session stays
        assert other.get("/findings").status_code == 303  # the other one ended


def test_user_command_manages_accounts_without_the_password_on_the_command_line(
        tmp_path: Path) -> None:
    cfg = config_for(tmp_path)
    add_user(cfg, "staff", "viewer")
    add_user(cfg)
    db = str(cfg.db_path)

    def og(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run([OFFICEGUARD, "user", *args, "--db", db], input=stdin,
                              capture_output=True, text=True, timeout=60)

    res = og("passwd", "staff", "--password-stdin", "--by", "boss",
             stdin="cli-chosen-pass-99\n")
    assert res.returncode == 0, res.stderr
    assert og("passwd", "staff", "--password-stdin", stdin="short\n").returncode == 1
    assert og("disable", "staff").returncode == 0
    res = og("list", "--json")
    users = {u["username"]: u for u in json.loads(res.stdout)["users"]}
    assert users["staff"]["disabled"] is True and users["manager"]["disabled"] is False
    res = og("disable", "manager")
    assert res.returncode == 1 and "last enabled administrator" in res.stderr
    assert og("enable", "staff").returncode == 0
    assert og("end-sessions", "nobody").returncode == 1
    with client(cfg) as c:
        r = c.post("/login", data={"username": "staff", "password": "cli-chosen-pass-99"})
        assert r.status_code == 303
    with Store(cfg.db_path) as store:
        rows = store.query("SELECT actor, action FROM audit WHERE action LIKE 'password%'")
    assert [(r["actor"], r["action"]) for r in rows] == [("boss", "password changed")]


def test_a_client_dribbling_its_headers_is_cut_off(web_server: dict[str, object]) -> None:
    from web.limits import HEADER_TIMEOUT_S

    port = int(str(web_server["port"]))
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(b"POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    started = time.monotonic()
    closed = False
    while time.monotonic() - started < HEADER_TIMEOUT_S * 4:
        try:
            s.sendall(b"X-a: b\r\n")
            s.settimeout(1.0)
            if s.recv(1024) == b"":
                closed = True
                break
        except TimeoutError:
            continue
        except OSError:
            closed = True
            break
    s.close()
    assert closed, "a slow client kept its connection"
    # the dashboard still answers others
    c = _conn(port)
    c.request("GET", "/health")
    assert c.getresponse().status == 200
    c.close()
