"""The dashboard over HTTP: access control, CSRF, headers, setup, lockout, roles, i18n, the
API spec, exports and test alerts. Browser tests are in tests/test_web_browser.py."""

from __future__ import annotations

import io
import json
import re
import time
import zipfile
from pathlib import Path

import pytest
from fastapi.routing import APIRoute

from appliance.store import Store
from tests.conftest import ROOT
from tests.webutil import PASSWORD, add_finding, add_user, client, config_for, csrf
from web import i18n
from web.app import create_app

PUBLIC = {"/login", "/setup", "/health", "/lang/{code}"}


def _routes(config: object) -> list[APIRoute]:
    """Every route: the app's own and its routers' (FastAPI includes a router as one entry
    of app.routes); the test below requests each one from the app itself."""
    from web.app import ROUTERS

    app = create_app(config)  # type: ignore[arg-type]
    return [r for r in [*app.routes, *(x for router in ROUTERS for x in router.routes)]
            if isinstance(r, APIRoute)]


def test_every_route_but_login_setup_health_needs_a_session(tmp_path: Path) -> None:
    cfg = config_for(tmp_path)
    add_user(cfg)
    routes = _routes(cfg)
    assert len(routes) > 25
    with client(cfg) as c:
        for r in routes:
            if r.path in PUBLIC:
                continue
            path = re.sub(r"\{[^}]+\}", "1", r.path)
            for method in r.methods or ():
                resp = c.request(method, path)
                if path.startswith("/api/"):
                    assert resp.status_code == 401, (method, path, resp.status_code)
                else:
                    assert resp.status_code == 303, (method, path, resp.status_code)
                    assert resp.headers["location"].startswith("/login")
        assert c.get("/health").json() == {"status": "ok"}
        assert c.get("/openapi.json").status_code == 404  # the spec is not served
        assert c.get("/docs").status_code == 404


def test_posts_without_csrf_are_refused(tmp_path: Path) -> None:
    cfg = config_for(tmp_path)
    add_user(cfg)
    add_finding(cfg)
    with client(cfg, login="manager") as c:
        assert c.post("/findings/1/status", data={"status": "acknowledged"}).status_code == 403
        assert c.post("/findings/1/status", data={"status": "acknowledged",
                                                   "csrf": "forged"}).status_code == 403
        r = c.post("/api/findings/1/status", json={"status": "acknowledged"})
        assert r.status_code == 403
        assert c.post("/logout").status_code == 403
        token = csrf(c)
        # found by the fuzz: a body that is not UTF-8 made FastAPI's error handler fail (500)
        for ctype in ("application/json", "text/plain"):
            r = c.post("/api/findings/1/status", content=b"\x80",
                       headers={"X-CSRF-Token": token, "Content-Type": ctype})
            assert r.status_code in (400, 422) and "\\x80" not in r.text, (ctype, r.text)
        r = c.post("/api/findings/1/status", json={"status": "acknowledged"},
                   headers={"X-CSRF-Token": token})
        assert r.status_code == 200
        assert c.get("/api/findings/1").json()["status"] == "acknowledged"
        hist = c.get("/api/findings/1").json()["history"]
        assert hist[-1]["actor"] == "manager"


def test_security_headers_and_cookie_flags(tmp_path: Path) -> None:
    cfg = config_for(tmp_path)
    add_user(cfg)
    with client(cfg) as c:
        r = c.post("/login", data={"username": "manager", "password": PASSWORD})
        cookie = r.headers["set-cookie"]
        assert "HttpOnly" in cookie and "Secure" in cookie and "SameSite=strict" in cookie
        h = c.get("/login").headers
        csp = h["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert "frame-ancestors 'none'" in csp and h["x-frame-options"] == "DENY"
        assert h["x-content-type-options"] == "nosniff"
        assert "max-age" in h["strict-transport-security"]


def test_first_run_setup_needs_the_code_and_happens_once(tmp_path: Path) -> None:
    cfg = config_for(tmp_path, lockout_failures=3)
    with client(cfg) as c:
        assert c.get("/login").headers["location"] == "/setup"
        code = (cfg.data_dir / "setup-code").read_text().strip()
        assert (cfg.data_dir / "setup-code").stat().st_mode & 0o077 == 0
        form = {"code": "WRONG-CODE-0000", "username": "boss", "password": PASSWORD,
                "password2": PASSWORD}
        assert c.post("/setup", data=form).status_code == 401
        form["code"] = code
        form["password"] = form["password2"] = "short"
        assert c.post("/setup", data=form).status_code == 400  # too short, nothing created
        form["password"] = form["password2"] = PASSWORD
        r = c.post("/setup", data=form)
        assert r.status_code == 303 and r.headers["location"] == "/"
        assert c.get("/").status_code == 200  # logged in by the setup
        assert not (cfg.data_dir / "setup-code").exists()  # retired
        # nobody can run the setup a second time, even with the old code
        form["username"] = "intruder"
        assert c.post("/setup", data=form).headers["location"] == "/login"
    store = Store(cfg.data_dir / "officeguard.db")
    users = store.query("SELECT username, role, password_hash FROM users")
    store.close()
    assert [(u["username"], u["role"]) for u in users] == [("boss", "admin")]
    assert users[0]["password_hash"].startswith("$argon2id$")


def test_wrong_setup_codes_lock_the_setup(tmp_path: Path) -> None:
    cfg = config_for(tmp_path, lockout_failures=3)
    with client(cfg) as c:
        form = {"code": "NOPE-NOPE-NOPE", "username": "x", "password": PASSWORD,
                "password2": PASSWORD}
        for _ in range(3):
            assert c.post("/setup", data=form).status_code == 401
        form["code"] = (cfg.data_dir / "setup-code").read_text().strip()
        assert c.post("/setup", data=form).status_code == 429  # even the right code waits


def test_login_lockout_after_repeated_failures(tmp_path: Path) -> None:
    cfg = config_for(tmp_path, lockout_failures=5)
    add_user(cfg)
    with client(cfg) as c:
        for _ in range(5):
            r = c.post("/login", data={"username": "manager", "password": "wrong-password-1"})
            assert r.status_code == 401
        r = c.post("/login", data={"username": "manager", "password": PASSWORD})
        assert r.status_code == 429 and "locked" not in r.headers.get("set-cookie", "")
        assert "og_session" not in r.headers.get("set-cookie", "")


def test_viewer_reads_but_cannot_change(tmp_path: Path) -> None:
    cfg = config_for(tmp_path)
    add_user(cfg, "reader", "viewer")
    with client(cfg, login="reader") as c:
        assert c.get("/findings").status_code == 200
        token = csrf(c)
        r = c.post("/settings/users", data={"csrf": token, "username": "evil",
                                             "password": PASSWORD, "role": "admin"})
        assert r.status_code == 403


def test_open_redirects_are_refused(tmp_path: Path) -> None:
    cfg = config_for(tmp_path)
    add_user(cfg)
    with client(cfg) as c:
        for nxt in ("https://evil.example/", "//evil.example/", "/\\evil.example"):
            r = c.post("/login", data={"username": "manager", "password": PASSWORD,
                                        "next": nxt})
            assert r.headers["location"] == "/", nxt
        assert c.get("/lang/en", params={"next": "//evil.example"}).headers["location"] == "/"


def test_every_template_string_is_translated_to_japanese() -> None:
    texts = "".join(p.read_text() for p in (ROOT / "web" / "templates").glob("*.html"))
    msgids = set(re.findall(r'_\("([^"]+)"\)', texts)) | set(re.findall(r"_\('([^']+)'\)",
                                                                        texts))
    ja = i18n.catalog("ja")
    missing = sorted(m for m in msgids if m not in ja)
    assert not missing, missing
    for word in ("open", "acknowledged", "resolved", "critical", "high", "pass", "fail",
                 "unknown", "admin", "viewer", "inspector", "new", "reopened"):
        assert word in ja, word


def test_language_switch(tmp_path: Path) -> None:
    cfg = config_for(tmp_path)
    add_user(cfg)
    with client(cfg, login="manager") as c:
        assert "概要" in c.get("/").text
        c.get("/lang/en")
        assert ">Overview<" in c.get("/").text
        c.get("/lang/ja")
        assert "概要" in c.get("/").text


def test_checked_in_openapi_spec_matches_the_app(tmp_path: Path) -> None:
    spec = create_app(config_for(tmp_path)).openapi()
    checked_in = json.loads((ROOT / "web" / "openapi.json").read_text())
    assert spec == checked_in, "run: python -m web.openapi > web/openapi.json"


def test_export_download_is_the_signed_folder(tmp_path: Path) -> None:
    cfg = config_for(tmp_path)
    add_user(cfg)
    folder = tmp_path / "exports" / "officeguard-2026-10"
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_text('{"files": []}')
    (folder / "report-ja.html").write_text("<p>x</p>")
    store = Store(cfg.data_dir / "officeguard.db")
    store.write(lambda c: c.execute(
        "INSERT INTO exports (period, period_start, period_end, path, created_at, "
        "manifest_sha256) VALUES ('2026-10', 0, 1, ?, ?, 'ab')", (str(folder), time.time())))
    store.close()
    from appliance import signing

    key = signing.load_or_create_key(cfg.data_dir)
    with client(cfg, login="manager") as c:
        page = c.get("/exports").text
        assert "/exports/1/download" in page
        assert signing.fingerprint(key) in page  # inspectors pin the public key
        assert signing.public_pem(key).decode().splitlines()[1] in page
        r = c.get("/exports/1/download")
        assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
        names = zipfile.ZipFile(io.BytesIO(r.content)).namelist()
        assert sorted(names) == ["officeguard-2026-10/manifest.json",
                                 "officeguard-2026-10/report-ja.html"]
        assert c.get("/exports/99/download").status_code == 404


def test_test_alert_button_reaches_the_broker(tmp_path: Path, mosquitto: object) -> None:
    """The button asks; the agent's command drainer (the real one, with the real broker)
    publishes it; the page shows the delivery. The agent as a process: tests/test_commands.py."""
    from agent.commands import Drainer

    port = mosquitto.port  # type: ignore[attr-defined]
    cfg = config_for(tmp_path)
    cfg = type(cfg).model_validate({**cfg.model_dump(), "mqtt": {"host": "127.0.0.1",
                                                                 "port": port}})
    add_user(cfg)
    with client(cfg, login="manager") as c:
        token = csrf(c, "/settings")
        r = c.post("/settings/alert-test", data={"csrf": token})
        assert r.status_code == 303 and r.headers["location"] == "/settings?msg=alert-requested"
        assert "エージェントの実行待ち" in c.get("/settings?msg=alert-requested").text
    store = Store(cfg.data_dir / "officeguard.db")
    try:
        assert not store.query("SELECT 1 FROM alert_tests")  # the web sent nothing itself
        drainer = Drainer(cfg, store)
        assert drainer.drain_once() == [1]
        drainer.wait(60)
        rows = store.query("SELECT requested_by, delivered_at FROM alert_tests")
    finally:
        store.close()
    assert rows and rows[0]["requested_by"] == "manager" and rows[0]["delivered_at"]
    with client(cfg, login="manager") as c:
        page = c.get("/settings").text
        assert "テスト通知が配信されました" in page and 'data-state="done"' in page


@pytest.mark.parametrize("path", ["/", "/findings", "/measures", "/measures/3-5", "/wifi",
                                  "/devices", "/probes", "/exports", "/settings", "/system"])
def test_every_page_renders_on_an_empty_store(tmp_path: Path, path: str) -> None:
    cfg = config_for(tmp_path)
    add_user(cfg)
    with client(cfg, login="manager") as c:
        r = c.get(path)
        assert r.status_code == 200, r.text[-2000:]
        assert "<html lang=\"ja\">" in r.text


def test_settings_are_validated_saved_and_applied_at_the_next_start(tmp_path: Path) -> None:
    from appliance.config import load

    cfg = config_for(tmp_path)
    add_user(cfg)
    main = tmp_path / "officeguard.toml"
    main.write_text(f'[storage]\ndata_dir = "{cfg.data_dir}"\n[facility]\nname = "from file"\n')
    form = {"facility_name": 'Shibuya "2F" <b>', "ssids":
            "OfficeGuest | guest | 02:00:5E:00:53:01\nStaff | business |\n",
            "scope": "192.0.2.0/24\n", "websites": "https://www.example.jp/\n",
            "mqtt_host": "127.0.0.1", "mqtt_port": "1883", "mqtt_username": "og",
            "mqtt_topic_prefix": "officeguard/shibuya", "mqtt_dashboard_url": ""}
    with client(cfg, login="manager") as c:
        token = csrf(c, "/settings")
        assert c.post("/settings/config", data=form).status_code == 403  # no CSRF
        bad = c.post("/settings/config", data={**form, "csrf": token, "scope": "198.18.0.0/15",
                                                "mqtt_port": "99999"})
        assert bad.status_code == 400
        assert "probe.scope" in bad.text and "mqtt.port" in bad.text
        assert not (cfg.data_dir / "settings.toml").exists()  # nothing half-written
        ok = c.post("/settings/config", data={**form, "csrf": token})
        assert ok.status_code == 303 and ok.headers["location"] == "/settings?msg=settings-saved"
    saved = cfg.data_dir / "settings.toml"
    assert saved.stat().st_mode & 0o007 == 0
    new = load(main)  # what the agent and dashboard read at their next start
    assert new.facility.name == 'Shibuya "2F" <b>'
    assert [(x.name, x.role, x.bssids) for x in new.facility.ssids] == [
        ("OfficeGuest", "guest", ["02:00:5e:00:53:01"]), ("Staff", "business", [])]
    assert new.probe.scope == ["192.0.2.0/24"] and new.mqtt.topic_prefix == "officeguard/shibuya"
    assert new.storage.data_dir == str(cfg.data_dir)  # keys outside the page stay the file's


def test_cached_findings_list_shows_a_change_made_here_at_once(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    cfg = config_for(tmp_path)
    add_user(cfg)
    add_finding(cfg, "wifi.rogue_ap", "3-8", "critical", ("02:00:5e:00:53:02",))
    app = create_app(cfg, counts_ttl_s=60)  # the list and counts are reused for a minute
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as c:
        c.post("/login", data={"username": "manager", "password": PASSWORD})
        before = c.get("/findings").text
        assert 'class="status">未対応' in before
        token = csrf(c, "/findings")
        r = c.post("/findings/ack", data={"fid": "1", "csrf": token, "back": "/findings"})
        assert r.status_code == 303
        assert 'class="status">確認済み' in c.get("/findings").text


def test_manager_approves_a_devices_services_as_its_baseline(tmp_path: Path) -> None:
    cfg = config_for(tmp_path)
    add_user(cfg)
    store = Store(cfg.data_dir / "officeguard.db")
    store.write(lambda c: c.executemany(
        "INSERT INTO device_ports (ip, port, proto, service, first_seen, last_seen) "
        "VALUES ('192.0.2.20', ?, ?, ?, 1, 1)", [(631, "tcp", "ipp"), (161, "udp", "snmp")]))
    store.write(lambda c: c.execute(
        "INSERT INTO devices (ip, vendor, first_seen, last_seen) VALUES ('192.0.2.20', "
        "'Brother', 1, 1)"))
    store.close()
    with client(cfg, login="manager") as c:
        token = csrf(c, "/devices")
        assert c.post("/devices/approve", data={"ip": "192.0.2.20"}).status_code == 403
        r = c.post("/devices/approve", data={"ip": "192.0.2.20", "csrf": token})
        assert r.status_code == 303
        assert "2 件承認済み" in c.get("/devices").text
        r = c.post("/devices/approve", data={"ip": "192.0.2.99", "csrf": token})
        assert r.status_code == 409  # nothing probed there: nothing to approve
    store = Store(cfg.data_dir / "officeguard.db")
    rows = store.query("SELECT port, proto, approved_by FROM probe_baseline ORDER BY port")
    store.close()
    assert [(r["port"], r["proto"], r["approved_by"]) for r in rows] == [
        (161, "udp", "manager"), (631, "tcp", "manager")]
