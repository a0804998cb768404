"""Compliance: table-driven scenarios for the documented estimation rule (docs/compliance.md),
real captures through ingest, and attestations whose evidence survives restarts."""

from __future__ import annotations

import json
import subprocess
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from appliance.compliance import (
    AttestationFact,
    Facts,
    FindingFact,
    evaluate,
    measure_verdict,
    stars_of,
)
from appliance.guideline import load_catalog
from tests.conftest import OFFICEGUARD, pcap

CAT = load_catalog()
TODAY = date(2026, 11, 26)
COVER_ALL = {"facility_aps": True, "leakage_measured": True, "agent_recent": True,
             "monitoring": True, "retention_set": True, "probe.website": True,
             "probe.firmware": True, "probe.credentials": True, "probe.isolation": True,
             "probe.separation": True, "probe.services": True, "probe.printers": True,
             "probe.rental_os": True}
ADVANCED = {m.id for m in CAT.measures if m.level == "advanced"}


def attest_all(result_advanced: str = "pass", skip: tuple[str, ...] = (),
               when: date = TODAY - timedelta(days=10)) -> list[AttestationFact]:
    out = []
    n = 0
    for m in CAT.measures:
        for c in m.checks:
            if c["kind"] != "attest" or (m.id, c["id"]) in skip:
                continue
            n += 1
            res = result_advanced if m.id in ADVANCED else "pass"
            out.append(AttestationFact(n, m.id, c["id"], res, "t", "", when, c["valid_days"]))
    return out


def crit(rule: str, measure: str) -> FindingFact:
    return FindingFact(1, rule, measure, "critical", "s", "t", "t")


def run(facts: Facts) -> tuple[str, str, int, int]:
    doc = evaluate(CAT, facts)
    return (doc["grades"]["audit"], doc["grades"]["vulnerability"], doc["estimate"]["stars"],
            doc["estimate"]["stars_optimistic"])


SCENARIOS: dict[str, tuple[Facts, tuple[str, str, int, int]]] = {
    "everything, basic and advanced": (
        Facts([], attest_all("pass"), COVER_ALL, TODAY), ("A", "A", 3, 3)),
    "all basic measures pass, advanced not done": (
        Facts([], attest_all("fail"), COVER_ALL, TODAY), ("B", "B", 2, 2)),
    "one open SSID": (
        Facts([crit("wifi.weak_encryption", "3-3")], attest_all("fail"), COVER_ALL, TODAY),
        ("B", "D", 0, 0)),
    "a working default password": (
        Facts([crit("probe.default_credentials", "3-2")], attest_all("fail"), COVER_ALL, TODAY),
        ("B", "D", 0, 0)),
    "business network reachable from guest": (
        Facts([crit("probe.guest_to_business", "3-6")], attest_all("fail"), COVER_ALL, TODAY),
        ("B", "D", 0, 0)),
    "two critical findings": (
        Facts([crit("wifi.weak_encryption", "3-3"), crit("probe.guest_to_business", "3-6")],
              attest_all("fail"), COVER_ALL, TODAY), ("B", "E", 0, 0)),
    "expired training record (the worked example of guideline.md 6.3)": (
        Facts([], attest_all("fail", skip=(("1-4", "training"),)) + [
            AttestationFact(999, "1-4", "training", "pass", "t", "", TODAY - timedelta(days=395),
                            365)], COVER_ALL, TODAY), ("C", "B", 1, 2)),
    "nothing attested yet": (
        Facts([], [], {}, TODAY), ("E", "D", 0, 3)),
    "personal data over plain http": (
        Facts([crit("probe.website_tls", "2-3")], attest_all("fail"), COVER_ALL, TODAY),
        ("D", "B", 0, 0)),
}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_scenarios(name: str) -> None:
    facts, expected = SCENARIOS[name]
    assert run(facts) == expected


@pytest.mark.parametrize(("audit", "vuln", "stars"), [
    ("A", "A", 3), ("A", "B", 3), ("B", "B", 2), ("C", "C", 1), ("D", "D", 0), ("E", "E", 0),
    ("D", "A", 0), ("A", "E", 0), ("A", "C", 1), ("B", "A", 2)])
def test_seed_table_rows_and_mixed_grades(audit: str, vuln: str, stars: int) -> None:
    assert stars_of(audit, vuln) == stars


def test_labels_range_and_disclaimer() -> None:
    doc = evaluate(CAT, SCENARIOS["expired training record (the worked example of guideline.md "
                                  "6.3)"][0])
    e = doc["estimate"]
    assert e["label_ja"] == "推定 ★ 安心〜★★ 安全"
    assert "指定検査事業者" in e["disclaimer_ja"]
    assert 0.9 <= e["confidence"] <= 1.0 and e["confidence_level"] == "high"
    m14 = next(m for m in doc["measures"] if m["measure"] == "1-4")
    assert m14["verdict"] == "expired"
    training = next(c for c in m14["checks"] if c["check"] == "training")
    assert training["reason_ja"].startswith("証跡の有効期限切れ")
    assert m14["remediation_ja"] and m14["remediation_en"]


def test_measure_verdict_rules() -> None:
    assert measure_verdict(["pass", "warn"]) == "warn"
    assert measure_verdict(["pass", "unknown", "fail"]) == "fail"
    assert measure_verdict(["pass", "expired"]) == "expired"
    assert measure_verdict(["not_applicable"]) == "not_applicable"
    assert measure_verdict(["pass", "not_applicable"]) == "pass"


def test_expiry_and_reminder_days() -> None:
    att = AttestationFact(1, "3-4", "passphrase", "pass", "t", "", date(2026, 11, 1), 31)
    def state(day: date) -> dict[str, Any]:
        doc = evaluate(CAT, Facts([], [att], {}, day))
        m = next(m for m in doc["measures"] if m["measure"] == "3-4")
        return m["checks"][0]
    assert state(date(2026, 11, 20))["state"] == "pass"
    assert state(date(2026, 11, 20))["reminder"] is False
    assert state(date(2026, 11, 26))["reminder"] is True  # 7 days before, as the check says
    assert state(date(2026, 12, 1))["state"] == "pass"  # the last valid day
    assert state(date(2026, 12, 2))["state"] == "expired"  # the day it expires


def cli(tmp_path: Path, *args: str, config: Path | None = None) -> subprocess.CompletedProcess[str]:
    cmd = [OFFICEGUARD, *args]
    if config:
        cmd += ["--config", str(config)]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, timeout=120)


def test_attest_with_evidence_survives_restart_and_verifies(tmp_path: Path) -> None:
    policy = tmp_path / "ポリシー <v1>.pdf"
    policy.write_bytes(b"%PDF-1.4 the facility's security policy")
    res = cli(tmp_path, "attest", "1-1", "--note", "承認済み v1", "--evidence", str(policy),
              "--by", "山田", "--json")
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    sha = doc["evidence"][0]["sha256"]
    stored = tmp_path / "officeguard-data" / "evidence" / sha
    assert stored.read_bytes() == policy.read_bytes() and oct(stored.stat().st_mode)[-3:] == "600"
    policy.unlink()  # the original may go: the appliance keeps its copy
    res = cli(tmp_path, "attestations", "--json")  # a new process: a restart
    assert res.returncode == 0
    [a] = json.loads(res.stdout)["attestations"]
    assert a["evidence"][0]["hash_ok"] and a["evidence"][0]["name"] == "ポリシー <v1>.pdf"
    assert a["by"] == "山田" and a["expires_on"] == (date.today() + timedelta(days=365)).isoformat()
    stored.chmod(0o600)
    stored.write_bytes(b"tampered")
    res = cli(tmp_path, "attestations")
    assert res.returncode == 1 and "MISSING OR CHANGED" in res.stdout
    res = cli(tmp_path, "compliance", "--json")
    c = next(c for m in json.loads(res.stdout)["measures"] if m["measure"] == "1-1"
             for c in m["checks"])
    assert c["state"] == "pass" and c["evidence"][0]["hash_ok"] is False


def test_attest_refuses_what_it_should(tmp_path: Path) -> None:
    assert "needs a reason" in cli(tmp_path, "attest", "5-1", "--not-applicable").stderr
    assert "no measure" in cli(tmp_path, "attest", "9-9", "--check", "x").stderr
    assert "measured by the appliance" in cli(tmp_path, "attest", "3-5", "--check",
                                             "client_isolation").stderr
    assert "cannot read evidence" in cli(tmp_path, "attest", "1-1", "--evidence",
                                         str(tmp_path / "nope.pdf")).stderr
    ok = cli(tmp_path, "attest", "5-1", "--not-applicable", "--note", "no rental PCs", "--json")
    assert ok.returncode == 0
    doc = json.loads(cli(tmp_path, "compliance", "--json").stdout)
    m = next(m for m in doc["measures"] if m["measure"] == "5-1")
    assert m["verdict"] == "not_applicable" and m["checks"][0]["reason"] == "no rental PCs"


def test_expiry_through_the_command_line(tmp_path: Path) -> None:
    assert cli(tmp_path, "attest", "3-4", "--valid-days", "31").returncode == 0
    expires = date.today() + timedelta(days=31)

    def verdict(day: date) -> str:
        doc = json.loads(cli(tmp_path, "compliance", "--json", "--date", day.isoformat()).stdout)
        return next(m["verdict"] for m in doc["measures"] if m["measure"] == "3-4")

    assert verdict(expires - timedelta(days=1)) == "pass"
    assert verdict(expires) == "expired"


def test_verdicts_follow_real_captures(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('[[facility.ssids]]\nname = "wifi-free"\n[[facility.ssids]]\n'
                   'name = "wifi-IT"\n')
    for name in ("wiguard_hidden_SSID.pcapng", "ppa_arppoison.pcapng"):
        res = cli(tmp_path, "ingest", str(pcap(name)), config=cfg)
        assert res.returncode == 0, res.stderr
    doc = json.loads(cli(tmp_path, "compliance", "--json", config=cfg).stdout)
    by = {m["measure"]: m for m in doc["measures"]}
    assert by["3-3"]["verdict"] == "fail"
    rules = {f["rule"] for f in by["3-3"]["findings"]}
    assert "wifi.weak_encryption" in rules  # the open 'wifi-free'
    enc = next(c for c in by["3-3"]["checks"] if c["check"] == "encryption")
    assert enc["state"] == "fail" and enc["findings"]
    assert by["3-8"]["verdict"] == "fail"  # the ARP poisoning
    assert "lan.arp_poisoning" in {f["rule"] for f in by["3-8"]["findings"]}
    assert by["3-5"]["verdict"] == "unknown"  # no probe has run: no data, not a pass
    assert doc["grades"]["vulnerability"] in ("D", "E")
    assert doc["estimate"]["stars"] == 0 and doc["estimate"]["stars_optimistic"] == 0


def test_another_framework_as_data(tmp_path: Path) -> None:
    """A framework added as a data file, no code: the 総務省 Wi-Fi provider checklist, say."""
    fw = {
        "framework": {"id": "soumu-wifi", "title_ja": "Wi-Fi提供者向けセキュリティ対策の手引き",
                      "title_en": "MIC Wi-Fi provider guide"},
        "categories": [{"id": 1, "title_ja": "暗号化", "title_en": "Encryption",
                        "inspection": "vulnerability"}],
        "measures": [
            {"id": "1-1", "number": "①", "title_ja": "強固な暗号化",
             "title_en": "Strong encryption", "level": "basic", "monitor": "auto",
             "checks": [{"id": "enc", "kind": "auto", "title_ja": "WPA2/WPA3",
                         "title_en": "WPA2/WPA3", "rules": ["wifi.weak_encryption"],
                         "coverage": "facility_aps"}],
             "remediation_ja": "WPA2以上に", "remediation_en": "Use WPA2 or better"},
            {"id": "1-2", "number": "②", "title_ja": "利用者への情報提供",
             "title_en": "Information for users", "level": "basic", "monitor": "attest",
             "checks": [{"id": "notice", "kind": "attest", "title_ja": "掲示",
                         "title_en": "Notice", "valid_days": 365}]},
        ],
    }
    path = tmp_path / "soumu-wifi.json"
    path.write_text(json.dumps(fw, ensure_ascii=False))
    (tmp_path / "c.toml").write_text(f'[facility]\nframework = "{path}"\n'
                                     '[[facility.ssids]]\nname = "wifi-free"\n')
    assert cli(tmp_path, "ingest", str(pcap("wiguard_hidden_SSID.pcapng")),
               config=tmp_path / "c.toml").returncode == 0
    doc = json.loads(cli(tmp_path, "compliance", "--json", config=tmp_path / "c.toml").stdout)
    assert doc["framework"] == "soumu-wifi"
    assert [(m["measure"], m["verdict"]) for m in doc["measures"]] == [
        ("1-1", "fail"), ("1-2", "unknown")]
    assert cli(tmp_path, "attest", "1-2", "--note", "掲示済み",
               config=tmp_path / "c.toml").returncode == 0
    (tmp_path / "bad.toml").write_text('[facility]\nframework = "nope"\n')
    res = cli(tmp_path, "compliance", config=tmp_path / "bad.toml")
    assert res.returncode == 1 and "no framework 'nope'" in res.stderr
