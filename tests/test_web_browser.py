"""The dashboard in real headless Chromium (Debian's `chromium`, driven by Playwright), served
by the real `officeguard web` over HTTPS, on a store filled by `officeguard ingest` (with hostile
SSIDs) and `officeguard probe` (loopback). Screenshots land in tests/artifacts/screens/."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest

from agent.capture import write_pcap
from tests import wifigen as g
from tests.conftest import OFFICEGUARD, ROOT, free_port

SCREENS = ROOT / "tests" / "artifacts" / "screens"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
HOSTILE = ["<script>alert(1)</script>", '"><img src=x onerror=alert(1)>']
PASSWORD = "correct-horse-battery-9"  # a test account's password, never a product default


class _Admin(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802
        body = b"<title><script>alert(2)</script> Router Admin</title>"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a: object) -> None:
        pass


def _capture(path: Path) -> None:
    frames = []
    t = 1_790_000_000.0
    aps = [("02:00:5e:00:53:01", b"OfficeGuest", "WPA2"),
           ("02:00:5e:00:53:02", b"OfficeGuest", "OPEN"),  # an open twin of the facility SSID
           ("02:00:5e:00:53:03", HOSTILE[0].encode(), "WPA2"),
           ("02:00:5e:00:53:04", HOSTILE[1].encode(), "WPA2"),
           ("02:00:5e:00:53:05", b"\xff\xfe\x80bad-\xe3\x81", "WEP")]
    for i in range(40):
        for bssid, ssid, sec in aps:
            frames.append((t + i * 0.1, g.radiotap(g.beacon(bssid, ssid, security=sec),
                                                   signal=-40 - i % 5)))
    write_pcap(path, 127, frames)


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    if not Path(CHROMIUM).exists():
        pytest.skip("needs Debian's chromium (make test installs it when run as root)")
    pytest.importorskip("playwright")
    d = tmp_path_factory.mktemp("dash")
    srv = HTTPServer(("127.0.0.1", 0), _Admin)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    port = free_port()
    cfg = d / "officeguard.toml"
    cfg.write_text(f"""
[facility]
name = "渋谷コワーキング <b>本館</b>"
[[facility.ssids]]
name = "OfficeGuest"
bssids = ["02:00:5e:00:53:01"]
role = "guest"
[storage]
data_dir = "{d / 'data'}"
[web]
port = {port}
setup_code_file = "{d / 'no-first-boot-code'}"
lockout_failures = 3
[probe]
ports = [{srv.server_address[1]}]
""")
    cap = d / "office.pcap"
    _capture(cap)
    env = {**os.environ, "OFFICEGUARD_CONFIG": str(cfg)}
    for cmd in (["ingest", str(cap)], ["probe", "--scope", "127.0.0.1/32"]):
        r = subprocess.run([OFFICEGUARD, *cmd], capture_output=True, text=True, env=env,
                           timeout=120)
        assert r.returncode == 0, r.stderr
    web = subprocess.Popen([OFFICEGUARD, "web"], env=env, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            break
        except OSError:
            time.sleep(0.1)
    try:
        yield {"url": f"https://127.0.0.1:{port}", "dir": d}
    finally:
        web.terminate()
        web.wait(10)
        if web.stderr:
            web.stderr.close()
        srv.shutdown()
        srv.server_close()


@pytest.fixture(scope="module")
def browser(dashboard: dict[str, Any]) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-background-networking", "--disable-component-update",
            "--no-first-run", "--disable-gpu"])
        ctx = b.new_context(ignore_https_errors=True, viewport={"width": 1200, "height": 900},
                            locale="ja-JP", timezone_id="Asia/Tokyo")
        page = ctx.new_page()
        page.dialogs = []  # type: ignore[attr-defined]
        page.on("dialog", lambda dlg: (page.dialogs.append(dlg.message),  # type: ignore[attr-defined]
                                       dlg.dismiss()))
        yield page
        ctx.close()
        b.close()


def shot(page: Any, name: str) -> None:
    SCREENS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENS / f"{name}.png"), full_page=True)


def test_1_first_run_setup_with_the_one_time_code(dashboard: dict[str, Any], browser: Any
                                                  ) -> None:
    page, url = browser, dashboard["url"]
    page.goto(url + "/")
    assert page.url.endswith("/setup")
    shot(page, "01-setup")
    page.fill("#code", "WRONG-CODE-XXXX")
    page.fill("#username", "manager")
    page.fill("#password", PASSWORD)
    page.fill("#password2", PASSWORD)
    page.click("#create")
    assert "初期設定コードが違います" in page.inner_text("#error")
    code = (dashboard["dir"] / "data" / "setup-code").read_text().strip()
    page.fill("#code", code)
    page.fill("#password", PASSWORD)
    page.fill("#password2", PASSWORD)
    page.click("#create")
    page.wait_for_url(url + "/")
    assert "推定" in page.inner_text("#level-label")


def test_2_overview_shows_level_and_six_categories(dashboard: dict[str, Any], browser: Any
                                                   ) -> None:
    page = browser
    page.goto(dashboard["url"] + "/")
    label = page.inner_text("#level-label")
    assert any(x in label for x in ("★", "認証不可"))
    assert page.locator("[data-cat]").count() == 6
    assert int(page.inner_text("[data-sev=critical]")) >= 1  # the open twin of the guest SSID
    # the facility name is data, shown as text
    assert "渋谷コワーキング <b>本館</b>" in page.inner_text("h1")
    shot(page, "02-overview")


def test_3_acknowledge_a_finding(dashboard: dict[str, Any], browser: Any) -> None:
    page = browser
    page.goto(dashboard["url"] + "/findings")
    shot(page, "03-findings")
    row = page.locator("#findings tbody tr").first
    fid = row.get_attribute("data-id")
    row.locator("button.ack").click()
    page.wait_for_load_state()
    page.goto(f"{dashboard['url']}/findings/{fid}")
    assert page.inner_text("#status") == "確認済み"
    assert "manager" in page.inner_text("table.list")
    shot(page, "04-finding")


def test_4_hostile_ssids_and_banners_are_inert_text(dashboard: dict[str, Any], browser: Any
                                                    ) -> None:
    page = browser
    page.goto(dashboard["url"] + "/wifi")
    text = page.inner_text("#aps")
    for ssid in HOSTILE:
        assert ssid in text
    assert "bad-" in text  # the non-UTF-8 SSID is shown (with replacement characters)
    assert page.locator("img[src=x]").count() == 0
    assert page.locator("#aps script").count() == 0
    shot(page, "05-wifi")
    for path in ("/devices", "/findings?status=active", "/measures", "/measures/3-3",
                 "/probes", "/exports", "/settings", "/system"):
        page.goto(dashboard["url"] + path)
        shot(page, "06" + path.replace("/", "-").split("?")[0])
    page.goto(dashboard["url"] + "/devices")
    assert "127.0.0.1" in page.inner_text("#devices")
    assert page.dialogs == []  # type: ignore[attr-defined]


def test_5_switch_language(dashboard: dict[str, Any], browser: Any) -> None:
    page = browser
    page.goto(dashboard["url"] + "/")
    page.click("#lang-en")
    page.wait_for_load_state()
    assert "Overview" in page.inner_text("nav")
    assert "Estimated" in page.inner_text("#level-label")
    shot(page, "07-overview-en")
    page.click("#lang-ja")
    page.wait_for_load_state()
    assert "概要" in page.inner_text("nav")


def test_6_phone_screen(dashboard: dict[str, Any], browser: Any) -> None:
    page = browser
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(dashboard["url"] + "/")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 400, width  # no sideways scrolling of the page itself
    shot(page, "08-overview-phone")
    page.set_viewport_size({"width": 1200, "height": 900})


def test_6b_attest_with_upload_and_the_reminder_list(dashboard: dict[str, Any], browser: Any
                                                     ) -> None:
    """An admin attests from the measure page with an uploaded file; the overview lists what
    expires within 30 days and what lacks data; a removed evidence file shows as invalid."""
    page, url = browser, dashboard["url"]
    page.goto(url + "/")
    todo = page.locator("#todo")
    assert todo.locator("tr[data-measure='1-1'].todo-unknown").count() == 1
    assert "証跡ファイルを添えて申告してください" in todo.inner_text()
    assert "ルーター・APのファームウェアを確認できていません" in todo.inner_text()
    shot(page, "09-overview-todo")
    evidence = dashboard["dir"] / "セキュリティポリシー.pdf"
    evidence.write_bytes(b"%PDF-1.4 policy signed by the manager")
    page.goto(url + "/measures/1-1")
    page.set_input_files("#attest-form input[type=file]", str(evidence))
    page.fill("#attest-form input[name=note]", "理事会承認 2026")
    page.click("#attest-form button[type=submit]")
    page.wait_for_selector("#attest-ok")
    row = page.locator("#checks tr[data-check='policy']")
    assert "適合" in row.inner_text() and "セキュリティポリシー.pdf" in row.inner_text()
    shot(page, "10-measure-attested")
    # a check valid for 31 days appears on the overview as expiring within 30 days
    page.goto(url + "/measures/3-4")
    page.set_input_files("#attest-form input[type=file]", str(evidence))
    page.fill("#attest-form input[name=valid_days]", "20")
    page.click("#attest-form button[type=submit]")
    page.wait_for_selector("#attest-ok")
    page.goto(url + "/")
    exp = page.locator("#todo tr[data-measure='3-4'].todo-expiring")
    assert exp.count() == 1 and "新しい証跡を登録してください" in exp.inner_text()
    assert page.locator("#todo tr[data-measure='1-1']").count() == 0
    # what cannot be attested says so, and a refused attestation records nothing
    page.goto(url + "/measures/6-3")
    assert "申告できません" in page.inner_text("#attest")
    page.goto(url + "/measures/1-2")
    page.fill("#attest-form input[name=valid_days]", "399")
    page.evaluate("document.querySelector('#attest-form input[name=valid_days]')"
                  ".removeAttribute('max')")
    page.fill("#attest-form input[name=valid_days]", "36500")
    page.click("#attest-form button[type=submit]")
    page.wait_for_selector("#attest-error")
    assert "between 1 and 400" in page.inner_text("#attest-error")
    shot(page, "11-measure-refused")
    # the evidence file disappears from the appliance: the check turns evidence_invalid
    for f in (dashboard["dir"] / "data" / "evidence").iterdir():
        if not f.name.startswith("."):
            f.unlink()
    deadline = time.monotonic() + 60  # the dashboard re-evaluates at most every 10 s
    while True:
        page.goto(url + "/measures/1-1")
        text = page.locator("#checks tr[data-check='policy']").inner_text()
        if "証跡無効" in text or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert "証跡無効" in text and "見つからないか改変されています" in text
    shot(page, "12-measure-evidence-invalid")


def test_6c_search_box(dashboard: dict[str, Any], browser: Any) -> None:
    """The header's search box finds the open twin's finding by SSID and by MAC, the probed
    device by IP, a finding by words of its title; hostile text and SSIDs stay text."""
    page, url = browser, dashboard["url"]
    page.goto(url + "/wifi")
    page.fill("#search-form input[name=q]", "02:00:5E:00:53:02")  # the open twin's BSSID
    page.press("#search-form input[name=q]", "Enter")
    page.wait_for_selector("#search-results")
    assert "/search?q=02" in page.url
    finding = page.locator("#search-results tr.finding a").first
    href = finding.get_attribute("href")
    assert href and href.startswith("/findings/")
    title = finding.inner_text().split(" ", 1)[1]
    for q in ("OfficeGuest", title[:5]):
        page.fill("#search-form input[name=q]", q)
        page.press("#search-form input[name=q]", "Enter")
        page.wait_for_selector("#search-results")
        assert page.locator(f"#search-results a[href='{href}']").count() == 1, q
    page.goto(url + "/search?q=OfficeGuest")
    assert page.locator("#search-results tr.access_point").count() >= 2
    shot(page, "13-search")
    page.locator(f"#search-results a[href='{href}']").click()
    page.wait_for_url(url + href)
    page.fill("#search-form input[name=q]", "127.0.0.1")
    page.press("#search-form input[name=q]", "Enter")
    page.wait_for_selector("#search-results")
    assert page.locator("#search-results tr.device a[href='/devices']").count() >= 1
    for q in ("script", "onerror", '" AND ( NEAR *', "<script>alert(3)</script>"):
        page.fill("#search-form input[name=q]", q)
        page.press("#search-form input[name=q]", "Enter")
        page.wait_for_selector("#search-page-form")
        assert page.locator("main script, main img").count() == 0, q
    page.goto(url + "/search?q=script")
    assert HOSTILE[0] in page.inner_text("#search-results")
    page.goto(url + "/search?q=onerror")
    assert HOSTILE[1] in page.inner_text("#search-results")
    assert page.dialogs == []  # type: ignore[attr-defined]


def test_7_lockout_after_repeated_failures(dashboard: dict[str, Any], browser: Any) -> None:
    page, url = browser, dashboard["url"]
    page.goto(url + "/")
    page.click("button.link")  # log out
    page.wait_for_url(url + "/login")
    for _ in range(3):
        page.fill("#username", "manager")
        page.fill("#password", "wrong-password-1")
        page.click("#login")
        page.wait_for_load_state()
    page.fill("#username", "manager")
    page.fill("#password", PASSWORD)
    page.click("#login")
    page.wait_for_load_state()
    assert "ロック" in page.inner_text("#error")
    assert "/login" in page.url
    shot(page, "09-locked")
