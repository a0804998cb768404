"""Issue #14: names from the air shown safely — dashboard, CSV, report, MQTT — and SSIDs over
32 bytes flagged malformed."""

from __future__ import annotations

import csv
import json
import signal
import subprocess
from pathlib import Path

from agent.capture import LINKTYPE_RADIOTAP, write_pcap
from appliance.display import display_safe
from appliance.findings import FindingDraft, apply_drafts
from appliance.store import Store
from tests import wifigen as g
from tests.conftest import OFFICEGUARD, Broker
from tests.test_mqtt import Subscriber, start_agent, write_config
from tests.webutil import add_user, client, config_for

BIDI = "abc\u202egnp.exe"
ESC = "lobby\x1b[2J\x1b[31mRED"


def test_display_safe_marks_every_hidden_character() -> None:
    assert display_safe(BIDI) == "abc⟨U+202E⟩gnp.exe"
    assert display_safe(ESC) == "lobby⟨U+001B⟩[2J⟨U+001B⟩[31mRED"
    assert display_safe("zero\u200bwidth\u2066x\u2069") == \
        "zero⟨U+200B⟩width⟨U+2066⟩x⟨U+2069⟩"
    assert display_safe("渋谷コワーキング Wi-Fi 5G") == "渋谷コワーキング Wi-Fi 5G"
    assert display_safe(None) == ""


def _capture(tmp: Path) -> Path:
    frames = [(1.7e9 + i * 0.1, g.radiotap(g.beacon(bssid, ssid.encode())))
              for i in range(5) for bssid, ssid in (("02:00:5e:14:00:01", BIDI),
                                                    ("02:00:5e:14:00:02", ESC))]
    frames += [(1.7e9 + 1 + i * 0.1, g.radiotap(g.beacon("02:00:5e:14:00:03", b"L" * 255)))
               for i in range(5)]
    cap = tmp / "hostile.pcap"
    write_pcap(cap, LINKTYPE_RADIOTAP, frames)
    return cap


def test_dashboard_csv_and_report_show_markers_not_raw_controls(tmp_path: Path) -> None:
    cfg = config_for(tmp_path)
    add_user(cfg)
    res = subprocess.run([OFFICEGUARD, "ingest", str(_capture(tmp_path)), "--db",
                          str(cfg.db_path)], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    with Store(cfg.db_path) as store:
        rows = {r["bssid"]: r for r in store.query(
            "SELECT bssid, ssid, malformed_frames FROM access_points")}
    assert rows["02:00:5e:14:00:03"]["malformed_frames"] > 0  # 255-byte SSID flagged
    assert rows["02:00:5e:14:00:01"]["malformed_frames"] == 0
    with client(cfg, login="manager") as c:
        page = c.get("/wifi").text
    assert "\u202e" not in page and "\x1b" not in page
    assert "abc⟨U+202E⟩gnp.exe" in page and "lobby⟨U+001B⟩[2J" in page
    conf = tmp_path / "c.toml"
    conf.write_text(f'[storage]\ndata_dir = "{cfg.data_dir}"\n')
    res = subprocess.run([OFFICEGUARD, "export", "--config", str(conf), "--from", "2020-01-01",
                          "--to", "2026-12-31", "--formats", "html,csv,json", "--json"],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    folder = Path(json.loads(res.stdout)["folder"])
    with (folder / "access_points.csv").open(encoding="utf-8-sig", newline="") as f:
        cells = [v for row in csv.reader(f) for v in row]
    joined = "\n".join(cells)
    assert "\u202e" not in joined and "\x1b" not in joined
    assert "abc⟨U+202E⟩gnp.exe" in cells
    html = (folder / "report.html").read_text(encoding="utf-8")
    assert "\u202e" not in html and "\x1b" not in html
    # the JSON keeps the exact name (and its hex) for machines
    doc = json.loads((folder / "export.json").read_text(encoding="utf-8"))
    assert BIDI in [a["ssid"] for a in doc["access_points"]]


def test_mqtt_payloads_carry_markers(tmp_path: Path, mosquitto: Broker) -> None:
    cfg = write_config(tmp_path, mosquitto.port)
    db = tmp_path / "data" / "officeguard.db"
    sub = Subscriber(mosquitto.port, "officeguard/site-a/alerts/#")
    agent = start_agent(cfg, tmp_path / "agent.log")
    try:
        with Store(db) as store:
            store.write(lambda c: apply_drafts(c, [FindingDraft(
                "wifi.evil_twin", "3-3", "high", BIDI, "偽AP", "Evil twin", 1.8e9)]))
        assert sub.wait_for(lambda ms: any(a.get("rule") == "wifi.evil_twin"
                                           for a in _alerts(ms)), 60)
        alert = next(a for a in _alerts(sub.messages) if a.get("rule") == "wifi.evil_twin")
        assert alert["subject"] == "abc⟨U+202E⟩gnp.exe"
    finally:
        sub.close()
        agent.send_signal(signal.SIGTERM)
        agent.wait(30)


def _alerts(ms: list[tuple[str, bytes, bool]]) -> list[dict[str, object]]:
    return [json.loads(p) for t, p, _r in ms if "/alerts/" in t]
