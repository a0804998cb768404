"""Issue 17, the facility manager's first hour, through the real CLI and store: retention that
tells the truth, changes by record time, Japanese verdict words, export periods, the PDF an
inspector reads (pdftoppm / pdftotext) and quiet output."""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
import time
from datetime import date
from pathlib import Path

import pytest

from agent.capture import write_pcap
from agent.retention import prune
from appliance.store import Store
from tests import arpgen
from tests import wifigen as g
from tests.conftest import OFFICEGUARD

GW, A, X = "02:00:5e:00:53:01", "02:00:5e:00:53:0a", "02:00:5e:00:53:66"


def _spoof_capture(path: Path, t0: float) -> None:
    """A gateway, a client, and a second MAC claiming the gateway's address (high findings)."""
    frames = [
        (t0, arpgen.ether_arp(1, A, "192.0.2.10", tip="192.0.2.1")),
        (t0 + 0.1, arpgen.ether_arp(2, GW, "192.0.2.1", A, "192.0.2.10", eth_dst=A)),
        (t0 + 1, arpgen.ether_arp(2, X, "192.0.2.1", "ff:ff:ff:ff:ff:ff", "192.0.2.1")),
        (t0 + 2, arpgen.ether_arp(2, X, "192.0.2.1", "ff:ff:ff:ff:ff:ff", "192.0.2.1")),
        (t0 + 3, arpgen.ether_arp(2, GW, "192.0.2.1", A, "192.0.2.10", eth_dst=A)),
    ]
    write_pcap(path, 1, frames)


def _og(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([OFFICEGUARD, *args], capture_output=True, text=True, timeout=300,
                          env=env)


def _config(tmp_path: Path, extra: str = "") -> Path:
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[storage]\ndata_dir = "{tmp_path / "data"}"\nretention_days = 30\n'
                   f'[interfaces]\nlan = "none0"\n{extra}')
    return cfg


def test_an_old_capture_is_kept_with_a_message_not_pruned_in_silence(tmp_path: Path) -> None:
    cfg = _config(tmp_path)
    cap = tmp_path / "old.pcap"
    t_old = time.time() - 200 * 86400  # older than the 30-day window
    _spoof_capture(cap, t_old)
    res = _og("ingest", str(cap), "--config", str(cfg), "--json")
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["retention"] and "retention_days (30 days)" in doc["retention"]["message"]
    assert "older than storage.retention_days" in res.stderr  # said, not silent
    db = tmp_path / "data" / "officeguard.db"
    store = Store(db)
    try:
        before = store.query("SELECT COUNT(*) AS n FROM stations")[0]["n"]
        assert before >= 2
        # the agent's pruning, as it runs at start: what was just ingested stays
        gone = store.write(lambda c: prune(c, time.time(), 30))
        assert gone["stations"] == 0 and gone["events"] == 0
        assert store.query("SELECT COUNT(*) AS n FROM stations")[0]["n"] == before
        # and once the window has passed since it was recorded, it goes
        gone = store.write(lambda c: prune(c, time.time() + 31 * 86400, 30))
        assert gone["stations"] == before
    finally:
        store.close()


def test_live_rows_older_than_the_window_are_still_pruned(tmp_path: Path) -> None:
    """The hold covers only the ingested range: other old raw rows go as before."""
    db = tmp_path / "og.db"
    store = Store(db)
    try:
        old = time.time() - 100 * 86400
        store.write(lambda c: c.execute(
            "INSERT INTO stations (ip, mac, first_seen, last_seen) VALUES (?, ?, ?, ?)",
            ("192.0.2.5", A, old, old)))
        gone = store.write(lambda c: prune(c, time.time(), 30))
        assert gone["stations"] == 1
    finally:
        store.close()


def test_changes_since_yesterday_are_by_record_time(tmp_path: Path) -> None:
    from web import data

    cfg = _config(tmp_path)
    cap = tmp_path / "lastweek.pcap"
    _spoof_capture(cap, time.time() - 7 * 86400)  # captured a week ago, ingested now
    res = _og("ingest", str(cap), "--config", str(cfg), "--json")
    assert res.returncode == 0, res.stderr
    assert any(f["severity"] in ("high", "critical") for f in json.loads(res.stdout)["findings"])
    conn = sqlite3.connect(tmp_path / "data" / "officeguard.db")
    conn.row_factory = sqlite3.Row
    changes = data.changes_since(conn, time.time() - 86400)
    conn.close()
    assert changes and any(c["change"] == "new" for c in changes)
    assert all(c["ts"] < time.time() - 6 * 86400 for c in changes)  # happened last week


def test_compliance_prints_japanese_words_by_default_and_english_when_asked(
        tmp_path: Path) -> None:
    db = str(tmp_path / "og.db")
    ja = _og("compliance", "--db", db)
    assert ja.returncode == 0, ja.stderr
    for raw in (" unknown ", " fail ", "not_applicable", "信頼度"):
        assert raw not in ja.stdout, raw
    assert "データなし" in ja.stdout and "確度 " in ja.stdout and "1-①" in ja.stdout
    en = _og("compliance", "--db", db, "--lang", "en")
    assert en.returncode == 0, en.stderr
    assert "no data" in en.stdout and "confidence low" in en.stdout
    assert _og("compliance", "--db", db, "--lang", "fr").returncode == 2


def test_export_refuses_a_period_that_has_not_begun_and_bad_periods_are_usage_errors(
        tmp_path: Path) -> None:
    db = str(tmp_path / "og.db")
    nxt = date.today().replace(day=28)
    future = f"{nxt.year + 1}-{nxt.month:02d}"
    res = _og("export", "--db", db, "--period", future, "--out", str(tmp_path / "x"))
    assert res.returncode == 2 and "has not begun" in res.stderr
    assert not (tmp_path / "x").exists() or not any((tmp_path / "x").iterdir())
    for bad in ("2026-13", "2026-00", "May", "2026-05-40"):
        res = _og("export", "--db", db, "--period", bad, "--out", str(tmp_path / "x"))
        assert res.returncode == 2, (bad, res.returncode, res.stderr)
        assert "not a period" in res.stderr
    res = _og("export", "--db", db, "--from", "2026-01-01", "--to", "2025-01-01",
              "--out", str(tmp_path / "x"))
    assert res.returncode == 2


# -- the printed report ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def pdf(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    if shutil.which("pdftoppm") is None or shutil.which("pdftotext") is None:
        pytest.skip("needs poppler-utils (make test installs it)")
    d = tmp_path_factory.mktemp("pdf")
    cfg = _config(d, '[facility]\nname = "渋谷コワーキング"\n[[facility.ssids]]\n'
                     'name = "OfficeGuest"\nrole = "guest"\n')
    env = {**os.environ, "OFFICEGUARD_CONFIG": str(cfg)}
    t0 = time.time() - 3600
    cap = d / "wifi.pcap"
    frames = []
    for i in range(40):
        for bssid, ssid, sec in (("02:00:5e:00:53:01", b"OfficeGuest", "OPEN"),
                                 ("02:00:5e:00:53:02", b"Neighbour", "WEP")):
            frames.append((t0 + i * 0.1, g.radiotap(g.beacon(bssid, ssid, security=sec),
                                                    signal=-40 - i % 5)))
    write_pcap(cap, 127, frames)
    lan = d / "lan.pcap"
    _spoof_capture(lan, t0)
    for c in (cap, lan):
        r = _og("ingest", str(c), env=env)
        assert r.returncode == 0, r.stderr
    period = date.fromtimestamp(t0).strftime("%Y-%m")
    res = _og("export", "--period", period, "--out", str(d / "out"), "--json", env=env)
    assert res.returncode == 0, res.stderr
    folder = Path(json.loads(res.stdout)["folder"])
    shots = Path(__file__).resolve().parent / "artifacts" / "report"
    shots.mkdir(parents=True, exist_ok=True)
    for old in shots.glob("page-*.png"):
        old.unlink()
    subprocess.run(["pdftoppm", "-png", "-r", "50", str(folder / "report.pdf"),
                    str(shots / "page")], check=True)
    text = subprocess.run(["pdftotext", "-layout", str(folder / "report.pdf"), "-"],
                          capture_output=True, text=True, check=True).stdout
    return {"stderr": res.stderr, "text": text, "pages": sorted(shots.glob("page-*.png")),
            "first": subprocess.run(["pdftotext", "-l", "1", "-layout",
                                     str(folder / "report.pdf"), "-"], capture_output=True,
                                    text=True, check=True).stdout}


def test_export_output_is_quiet(pdf: dict[str, object]) -> None:
    assert "weasyprint" not in str(pdf["stderr"]).lower()


def test_the_first_page_is_not_a_mostly_empty_cover(pdf: dict[str, object]) -> None:
    first = str(pdf["first"])
    # the cover and the summary share page 1: the categories table starts there
    assert "カテゴリ別の状況" in first
    assert len([ln for ln in first.splitlines() if ln.strip()]) >= 15


def test_identifiers_do_not_wrap_and_dates_have_years(pdf: dict[str, object]) -> None:
    text = str(pdf["text"])
    for ident in ("02:00:5e:00:53:01", "02:00:5e:00:53:02"):
        assert ident in text, f"{ident} is not in the report whole"
    # no line ends inside a MAC, an address or a Japanese status word
    cut = [ln for ln in text.splitlines()
           if re.search(r"(^|\s)([0-9a-f]{2}:){1,5}$|\d+\.\d+\.\d+\.$|未対$", ln.rstrip())]
    assert not cut, cut
    year = str(date.today().year)
    charts = text[text.index("日別の新規検出"):]
    assert f"{year}-" in charts  # the chart's dates say the year


def test_the_report_is_japanese_and_empty_sections_say_so(pdf: dict[str, object]) -> None:
    text = str(pdf["text"])
    for english in ("security vendor", "first last firmware", " severity ", " status ",
                    "max ", "信頼度", "no probe data", "出典"):
        assert english not in text, english
    for ja in ("暗号化", "メーカー", "初回検出", "重大度", "確度", "該当なし", "3-③"):
        assert ja in text, ja
    assert "シード" not in text and "seed" not in text.lower()
    assert "（証跡（申告））" not in text
    att = text[text.index("証跡（申告）"):]
    assert att.split("テスト通知")[0].count("該当なし") == 1  # no attestations: said once


def test_the_running_agent_applies_saved_settings_without_a_restart(tmp_path: Path) -> None:
    """The dashboard writes settings.toml; the agent, already running, picks it up within
    seconds: it says so in its log and its heartbeat carries the file's time (what the
    Settings page compares to mark settings as pending)."""
    from appliance.config import load, settings_mtime, write_settings

    cfg = _config(tmp_path)
    (tmp_path / "data").mkdir(exist_ok=True)
    agent = subprocess.Popen([OFFICEGUARD, "agent", "--config", str(cfg)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    db = tmp_path / "data" / "officeguard.db"

    def heartbeat() -> dict[str, object] | None:
        try:
            conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
            row = conn.execute("SELECT value FROM meta WHERE key = 'agent'").fetchone()
            conn.close()
        except sqlite3.Error:
            return None
        return json.loads(row[0]) if row else None

    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and heartbeat() is None and agent.poll() is None:
            time.sleep(0.2)
        assert heartbeat() is not None, "the agent never reported"
        write_settings(load(cfg), {"facility": {"name": "本館", "ssids": [
            {"name": "OfficeGuest", "role": "guest"}]}})
        want = settings_mtime(tmp_path / "data")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and agent.poll() is None:
            hb = heartbeat() or {}
            if hb.get("settings_mtime") == want:
                break
            time.sleep(0.2)
        assert (heartbeat() or {}).get("settings_mtime") == want
    finally:
        agent.terminate()
        _out, err = agent.communicate(timeout=60)
    assert "applied the settings saved from the dashboard (facility '本館', 1 SSIDs)" in err, \
        err[-2000:]


def test_a_form_changes_only_the_fields_it_sends_and_pending_is_marked() -> None:
    from appliance.config import merge_settings
    from web import settings_form

    saved = {"facility": {"name": "本館", "ssids": [{"name": "OfficeGuest", "role": "guest"}]},
             "mqtt": {"host": "broker.example", "tls": True}}
    changed = settings_form.parse({"csrf": "x", "mqtt_topic_prefix": "og/a"})
    assert changed == {"mqtt": {"topic_prefix": "og/a"}}
    merged = merge_settings(saved, changed)
    assert merged["facility"] == saved["facility"]
    assert merged["mqtt"] == {"host": "broker.example", "tls": True, "topic_prefix": "og/a"}
    # an unticked TLS box is a change only when the form showed the box
    assert settings_form.parse({"mqtt_tls_sent": "1"}) == {"mqtt": {"tls": False}}
    assert settings_form.pending(200.0, {"running": True, "settings_mtime": 100.0})
    assert not settings_form.pending(200.0, {"running": True, "settings_mtime": 200.0})
    assert not settings_form.pending(200.0, {"running": False, "settings_mtime": 100.0})
    assert not settings_form.pending(None, {"running": True})
