"""The printed report's template (appliance/templates/report.html) in its autoescaped Jinja
environment: hostile names are escaped and their hidden characters shown, the words come from
the catalogs in the language asked for, long lists point to their CSV. (The PDF itself is
checked in test_export.py and test_first_hour.py.)"""

from __future__ import annotations

from typing import Any

import pytest

from appliance.compliance import Facts, evaluate
from appliance.guideline import load_catalog
from appliance.report import MAX_TABLE_ROWS, render_html

EVIL = '<script>alert(1)</script>"&\u202egnp.exe'


def _doc() -> dict[str, Any]:
    cat = load_catalog()
    ap = {"bssid": "02:00:5e:00:53:01", "ssid": EVIL, "channel": 6, "security": "OPEN",
          "pmf": "none", "wps": {"state": "configured"}, "vendor": "V", "rssi_mean_dbm": -40.0}
    return {
        "facility": {"id": "f1", "name": EVIL}, "period": {"from": "2026-11-01",
                                                          "to": "2026-11-30"},
        "appliance_id": "a1", "signing_key_sha256": "ab:cd", "timezone": "Asia/Tokyo",
        "framework_title_ja": cat.title_ja, "framework_title_en": cat.title_en,
        "compliance": evaluate(cat, Facts()),
        "findings": [{"id": 1, "rule": "wifi.weak_encryption", "measure": "3-3",
                      "severity": "critical", "subject": EVIL, "status": "open",
                      "title_ja": "Wi-Fiの暗号化が不十分です", "title_en": "Weak Wi-Fi encryption",
                      "last_seen": "2026-11-02T00:00:00+00:00", "opened_in_period": 1,
                      "closed_in_period": 0, "hours_to_resolve": None}],
        "findings_per_day": {"2026-11-02": {"critical": 1}},
        "access_points": [ap] * (MAX_TABLE_ROWS + 5), "devices": [], "probe_runs": [],
        "surveys": [], "attestations": [], "alert_tests": [],
        "privacy": {"note_ja": "注記", "note_en": "note", "pseudonymised_macs": 0},
    }


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_hostile_names_are_escaped_and_marked(lang: str) -> None:
    html = render_html(_doc(), lang)
    assert "<script>" not in html and "\u202e" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "⟨U+202E⟩gnp.exe" in html
    assert html.count("<style>") == 1 and "@page" in html  # our own CSS is not escaped


def test_words_come_from_the_catalog_in_the_language_asked() -> None:
    ja, en = render_html(_doc(), "ja"), render_html(_doc(), "en")
    assert "セキュリティ対策 検査用エクスポート" in ja and "カテゴリ別の状況" in ja
    assert "暗号化なし" in ja and ">あり<" in ja and "緊急" in ja and "未対応" in ja
    assert "該当なし" in ja and "None in this period." in en
    assert "Security measures: inspector export" in en and ">OPEN<" in en and ">on<" in en
    # English shows the framework's English title
    assert load_catalog().title_en in en and load_catalog().title_ja not in en
    assert "ほか 5 件は access_points.csv に記載しています。" in ja
    assert "5 more in access_points.csv." in en
    assert ">2026-11-02</text>" in ja  # the chart's dates keep the year
