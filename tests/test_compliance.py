"""Compliance: table-driven scenarios for the documented estimation rule (docs/compliance.md),
each overclaim of issue #13 as a test, real captures through ingest, and attestations whose
evidence survives restarts and is re-checked."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from appliance.compliance import (
    AttestationFact,
    Facts,
    FindingFact,
    Observation,
    evaluate,
    measure_verdict,
    outcome_level,
)
from appliance.guideline import CatalogError, load_catalog, parse_catalog
from tests.conftest import OFFICEGUARD, pcap

CAT = load_catalog()
TODAY = date(2026, 11, 26)
NOON = datetime.combine(TODAY, datetime.min.time()).timestamp() + 12 * 3600
EXAMPLE = Path(__file__).parent / "data" / "framework-telework-2022-structural-example.json"
ADVANCED = {m.id for m in CAT.measures if m.level == "advanced"}
GOOD_EV = ({"name": "doc.pdf", "sha256": "ab" * 32, "size": 10, "hash_ok": True},)


def coverage_keys(cat: Any = CAT) -> list[str]:
    keys = []
    for m in cat.measures:
        for c in m.checks:
            k = c.get("coverage")
            if k and k not in keys:
                keys.append(k)
    return keys


def obs_all(at: float = NOON, drop: tuple[str, ...] = ()) -> list[Observation]:
    return [Observation(k, f"thing examined for {k}", at) for k in coverage_keys() if k not in drop]


def attest_all(result_advanced: str = "pass", skip: tuple[tuple[str, str], ...] = (),
               when: date = TODAY - timedelta(days=10), cat: Any = CAT
               ) -> list[AttestationFact]:
    out = []
    n = 0
    for m in cat.measures:
        if m.unidentified:
            continue
        for c in m.checks:
            if c["kind"] != "attest" or (m.id, c["id"]) in skip:
                continue
            n += 1
            res = result_advanced if m.level == "advanced" else "pass"
            out.append(AttestationFact(n, m.id, c["id"], res, "t", "", when,
                                       min(c["valid_days"], 31 if c["valid_days"] <= 31 else 365),
                                       GOOD_EV))
    return out


def finding(rule: str, measure: str, severity: str = "critical", fid: int = 1) -> FindingFact:
    return FindingFact(fid, rule, measure, severity, "s", "t", "t")


def run(facts: Facts) -> tuple[str, str, int]:
    doc = evaluate(CAT, facts)
    return doc["grades"]["audit"], doc["grades"]["vulnerability"], doc["estimate"]["level"]


def check_of(doc: dict[str, Any], measure: str, check: str) -> dict[str, Any]:
    m = next(m for m in doc["measures"] if m["measure"] == measure)
    return next(c for c in m["checks"] if c["check"] == check)


def verdict_of(doc: dict[str, Any], measure: str) -> str:
    return str(next(m["verdict"] for m in doc["measures"] if m["measure"] == measure))


SCENARIOS: dict[str, tuple[Facts, tuple[str, str, int]]] = {
    "everything, basic and advanced": (
        Facts([], attest_all("pass"), obs_all(), TODAY), ("A", "A", 3)),
    "all basic measures pass, advanced not done": (
        Facts([], attest_all("fail"), obs_all(), TODAY), ("B", "B", 2)),
    "one open SSID": (
        Facts([finding("wifi.weak_encryption", "3-3")], attest_all("fail"), obs_all(), TODAY),
        ("B", "D", 0)),
    "a working default password": (
        Facts([finding("probe.default_credentials", "3-2")], attest_all("fail"), obs_all(),
              TODAY), ("B", "D", 0)),
    "two critical findings": (
        Facts([finding("wifi.weak_encryption", "3-3"),
               finding("probe.guest_to_business", "3-6", fid=2)],
              attest_all("fail"), obs_all(), TODAY), ("B", "E", 0)),
    "expired training record (the worked example of guideline.md 6.3)": (
        Facts([], attest_all("fail", skip=(("1-4", "training"),)) + [
            AttestationFact(999, "1-4", "training", "pass", "t", "", TODAY - timedelta(days=395),
                            365, GOOD_EV)], obs_all(), TODAY), ("C", "B", 1)),
    "nothing attested, nothing examined": (Facts([], [], [], TODAY), ("E", "D", 0)),
    "personal data over plain http": (
        Facts([finding("probe.website_tls", "2-3")], attest_all("fail"), obs_all(), TODAY),
        ("D", "B", 0)),
}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_scenarios(name: str) -> None:
    facts, expected = SCENARIOS[name]
    assert run(facts) == expected


@pytest.mark.parametrize(("audit", "vuln", "level"), [
    ("A", "A", 3), ("A", "B", 3), ("B", "B", 2), ("C", "C", 1), ("D", "D", 0), ("E", "E", 0),
    ("D", "A", 0), ("A", "E", 0), ("A", "C", 1), ("B", "A", 2)])
def test_seed_table_rows_and_mixed_grades(audit: str, vuln: str, level: int) -> None:
    assert outcome_level(CAT, {"audit": audit, "vulnerability": vuln}) == level


def test_range_shown_only_from_medium_confidence_and_the_disclaimer() -> None:
    doc = evaluate(CAT, SCENARIOS["expired training record (the worked example of guideline.md "
                                  "6.3)"][0])
    e = doc["estimate"]
    assert e["confidence_level"] == "high"
    assert e["label_ja"] == "推定 ★ 安心（〜★★ 安全）"
    assert e["level_conservative"] == 1 and e["level_optimistic"] == 2
    for text in ("指定検査事業者", "OfficeGuard 独自の解釈", "2022年", "安心安全テレワーク施設"):
        assert text in e["disclaimer_ja"]
    assert "succeeded in 2022" in e["disclaimer_en"] and "own reading" in e["disclaimer_en"]
    training = check_of(doc, "1-4", "training")
    assert training["state"] == "expired" and training["reason_ja"].startswith("証跡の有効期限切れ")
    # three checks with data at all: the optimistic bound is not shown, the page says why
    low = evaluate(CAT, Facts([], attest_all("pass")[:3], [], TODAY))["estimate"]
    assert low["confidence_level"] == "low"
    assert "〜" not in low["label_ja"] and low["level_optimistic"] is None
    assert low["why_no_range_ja"] and low["missing_count"] > 20


def test_measure_verdict_rules() -> None:
    assert measure_verdict(["pass", "warn"]) == "warn"
    assert measure_verdict(["pass", "unknown", "fail"]) == "fail"
    assert measure_verdict(["pass", "expired"]) == "expired"
    assert measure_verdict(["pass", "evidence_invalid", "unknown"]) == "evidence_invalid"
    assert measure_verdict(["not_applicable"]) == "not_applicable"
    assert measure_verdict(["pass", "not_applicable"]) == "pass"


def test_expiry_and_reminder_days() -> None:
    att = AttestationFact(1, "3-4", "passphrase", "pass", "t", "", date(2026, 11, 1), 31,
                          GOOD_EV)

    def state(day: date) -> dict[str, Any]:
        return check_of(evaluate(CAT, Facts([], [att], [], day)), "3-4", "passphrase")
    assert state(date(2026, 11, 20))["state"] == "pass"
    assert state(date(2026, 11, 20))["reminder"] is False
    assert state(date(2026, 11, 26))["reminder"] is True  # 7 days before, as the check says
    assert state(date(2026, 12, 1))["state"] == "pass"  # the last valid day
    assert state(date(2026, 12, 2))["state"] == "expired"  # the day it expires


# -- the overclaims of issue #13, one test each ----------------------------------------------

def test_all_not_applicable_and_one_evidence_less_attestation_is_not_three_stars() -> None:
    atts = [AttestationFact(100 + i, m.id, "*", "not_applicable", "t", "対象外", TODAY, 365)
            for i, m in enumerate(CAT.measures)]
    atts.append(AttestationFact(1, "1-1", "policy", "pass", "t", "", TODAY, 365))
    doc = evaluate(CAT, Facts([], atts, [], TODAY))
    assert doc["estimate"]["level"] == 0
    assert check_of(doc, "1-1", "policy")["state"] == "unknown"  # no evidence file
    # basic measures every facility has stay applicable whatever was declared
    assert verdict_of(doc, "1-1") != "not_applicable" and verdict_of(doc, "3-3") != (
        "not_applicable")


def test_not_applicable_never_hides_an_active_finding() -> None:
    wpa1 = finding("wifi.weak_encryption", "3-3", "high")
    base = Facts([wpa1], attest_all("pass"), obs_all(), TODAY)
    before = evaluate(CAT, base)
    na = AttestationFact(500, "3-3", "*", "not_applicable", "t", "対象外", TODAY, 365)
    after = evaluate(CAT, Facts([wpa1], [na, *attest_all("pass")], obs_all(), TODAY))
    assert verdict_of(after, "3-3") == "fail" and check_of(after, "3-3", "encryption")[
        "findings"] == [1]
    assert after["estimate"]["level"] <= before["estimate"]["level"] <= 1
    # a measure that may be N/A (4-4: no printer for 30 days) still shows its failing check
    exposed = finding("probe.printer_exposed", "4-4", "high", fid=2)
    na44 = AttestationFact(501, "4-4", "*", "not_applicable", "t", "プリンターなし", TODAY, 365)
    cond = {"no_devices:printer:30": True}
    doc = evaluate(CAT, Facts([exposed], [na44, *attest_all()], obs_all(), TODAY, cond))
    assert check_of(doc, "4-4", "printer_exposure")["state"] == "fail"
    assert check_of(doc, "4-4", "outbound_rules")["state"] == "not_applicable"
    # and the N/A condition is a fact: with a printer seen it does not hold
    doc = evaluate(CAT, Facts([], [na44, *attest_all()], obs_all(), TODAY, {}))
    assert verdict_of(doc, "4-4") != "not_applicable"
    assert "not_applicable_refused_ja" in next(m for m in doc["measures"]
                                               if m["measure"] == "4-4")


def test_changed_evidence_is_invalid_counts_as_fail_and_lowers_the_level() -> None:
    good = Facts([], attest_all("pass"), obs_all(), TODAY)
    atts = [AttestationFact(a.id, a.measure, a.check, a.result, a.actor, a.note, a.attested_on,
                            a.valid_days, ({**GOOD_EV[0], "hash_ok": False},))
            if a.measure == "1-3" else a for a in good.attestations]
    doc = evaluate(CAT, Facts([], atts, obs_all(), TODAY))
    assert check_of(doc, "1-3", "manual")["state"] == "evidence_invalid"
    assert doc["grades"]["audit"] == "C" and doc["grades"]["optimistic"]["audit"] == "C"
    assert doc["estimate"]["level"] < evaluate(CAT, good)["estimate"]["level"]


def test_coverage_is_per_device_class() -> None:
    """Probing one printer says nothing about the routers' firmware."""
    only_printer = [Observation("probe.firmware.device", "192.0.2.30 printer", NOON),
                    Observation("probe.credentials.device", "192.0.2.30 printer", NOON)]
    doc = evaluate(CAT, Facts([], [], only_printer, TODAY))
    fw31 = check_of(doc, "3-1", "firmware")
    assert fw31["state"] == "unknown" and fw31["examined"] == []
    assert fw31["reason_ja"] == "ルーター・APのファームウェアを確認できていません"
    assert check_of(doc, "3-2", "admin_password")["state"] == "unknown"
    fw41 = check_of(doc, "4-1", "firmware")
    assert fw41["state"] == "pass" and fw41["examined"][0]["what"] == "192.0.2.30 printer"
    assert fw41["examined"][0]["at"].startswith("2026-11-26T12:00")


def test_stale_data_is_not_current() -> None:
    two_years = NOON - 730 * 86400
    doc = evaluate(CAT, Facts([], [], obs_all(at=two_years), TODAY))
    for measure, check in (("3-3", "encryption"), ("3-8", "visibility"), ("3-1", "firmware")):
        c = check_of(doc, measure, check)
        assert c["state"] == "unknown" and "older than the 7-day window" in c["reason"]
    fresh = evaluate(CAT, Facts([], [], obs_all(at=NOON - 6 * 86400), TODAY))
    assert check_of(fresh, "3-3", "encryption")["state"] == "pass"


def test_empty_install_measures_nothing() -> None:
    doc = evaluate(CAT, Facts([], [], [], TODAY))
    for m in doc["measures"]:
        for c in m["checks"]:
            assert c["state"] in ("unknown", "not_applicable"), (m["measure"], c)
    assert check_of(doc, "3-7", "log_retention")["state"] == "unknown"


def test_3_5_3_6_and_4_4_need_something_to_have_been_tried() -> None:
    """Unit side of the probe: no peer → unknown; no business target → unknown; 4-4 needs a
    printer for its automatic part and an attestation for the rest."""
    from agent.probe import checks as ck

    out = ck.Outcome()
    ck.isolation_checks(out, {"network": "198.51.100.0/24", "interface": "eth1", "tested": 253,
                              "answered": [], "allowed": [], "expected": []}, NOON)
    ck.separation_checks(out, {"networks": ["192.0.2.0/24"], "targets": [], "reached": []},
                         NOON)
    ck.printer_checks(out, [], None, [], NOON)
    by = {c["check"]: c for c in out.checks}
    assert by["client_isolation"]["result"] == "unknown" and "probe.isolation" not in out.covered
    assert by["guest_separation"]["result"] == "unknown" and not by["guest_separation"][
        "examined"]
    assert "printer_exposure" not in by  # nothing to say without a printer
    out = ck.Outcome()
    ck.isolation_checks(out, {"network": "198.51.100.0/24", "interface": "eth1", "tested": 253,
                              "answered": [], "allowed": [], "expected": ["198.51.100.21"],
                              "own_peers": ["198.51.100.21"]}, NOON)
    assert out.checks[0]["result"] == "pass"
    assert out.checks[0]["examined"] == ["198.51.100.21 appliance station stayed silent"]
    # 4-4: the appliance's automatic part alone does not pass the measure
    printer = [Observation("probe.printers", "192.0.2.30 printer", NOON)]
    doc = evaluate(CAT, Facts([], [], printer, TODAY))
    assert check_of(doc, "4-4", "printer_exposure")["state"] == "pass"
    assert check_of(doc, "4-4", "outbound_rules")["state"] == "unknown"
    assert verdict_of(doc, "4-4") == "unknown"


def test_health_findings_count_for_1_4() -> None:
    disk = finding("health.disk_low", "1-4", "high")
    doc = evaluate(CAT, Facts([disk], [], obs_all(), TODAY))
    c = check_of(doc, "1-4", "periodic_check")
    assert c["state"] == "fail" and c["findings"] == [1]
    assert c["remediation_ja"] and c["references"] == []


def test_remediation_is_specific_per_check_with_references() -> None:
    doc = evaluate(CAT, Facts([], [], [], TODAY))
    texts = set()
    for measure, check in (("3-1", "firmware"), ("3-3", "encryption"), ("3-3", "leakage"),
                           ("3-5", "client_isolation"), ("3-6", "separation"),
                           ("4-2", "admin_password"), ("4-4", "printer_exposure")):
        c = check_of(doc, measure, check)
        assert c["remediation_ja"] and c["remediation_en"] and c["references"], (measure, check)
        texts.add(c["remediation_ja"])
    assert len(texts) == 7
    wifi = check_of(doc, "3-3", "encryption")["references"]
    assert any("soumu.go.jp" in r["url"] for r in wifi)


# -- the scheme is data ---------------------------------------------------------------------

def test_a_framework_of_another_shape_changes_grades_and_labels_without_code() -> None:
    ex = load_catalog(str(EXAMPLE))
    assert len(ex.categories) == 7 and "構造例" in ex.title_ja
    assert "NOT the real 55-measure checklist" in json.loads(EXAMPLE.read_text())[
        "framework"]["note_en"]
    obs = [Observation("probe.firmware.network", "192.0.2.1 router", NOON),
           Observation("probe.firmware.device", "192.0.2.30 printer", NOON),
           Observation("wifi.facility_ap", "AP", NOON)]
    all_pass = Facts([], attest_all("pass", cat=ex), obs, TODAY)
    doc = evaluate(ex, all_pass)
    assert doc["grades"] == {**doc["grades"], "security": "PREMIUM", "environment": "PREMIUM"}
    assert doc["estimate"]["label_ja"] == "推定 プレミアムグレード相当"
    assert doc["report_title_ja"].startswith("【構造例】")
    basic_only = evaluate(ex, Facts([], attest_all("fail", cat=ex), obs, TODAY))
    assert basic_only["estimate"]["label_ja"].startswith("推定 ビジネスグレード相当")
    # a chapter-7 basic measure failing brings the outcome down (the toy of issue #13)
    atts = [a if a.measure != "7-1" else AttestationFact(
        a.id, a.measure, a.check, "fail", "t", "", a.attested_on, a.valid_days, GOOD_EV)
        for a in all_pass.attestations]
    assert evaluate(ex, Facts([], atts, obs, TODAY))["estimate"]["level"] == 0
    # one finding lands on the right measure in either framework: printer firmware → 4-1
    old = finding("probe.firmware_outdated", "4-1", "high")
    for cat in (ex, CAT):
        d = evaluate(cat, Facts([old], [], obs, TODAY))
        on = {m["measure"] for m in d["measures"] if m["findings"]}
        assert on == {"4-1"}, (cat.framework_id, on)


def test_compliance_module_holds_no_constant_of_the_2021_scheme() -> None:
    src = (Path(__file__).parents[1] / "appliance" / "compliance.py").read_text()
    for token in ("★", "安心", "認証不可", '"1-1"', '"2-3"', "(1, 2, 6)", "(3, 4, 5)",
                  "6-③", "audit", "vulnerability"):
        assert token not in src, token


def test_a_bad_scheme_is_a_load_error() -> None:
    data = json.loads(EXAMPLE.read_text())
    data["scheme"]["axes"][0]["grades"][0]["any"] = [{"critical_min": 1}]  # typo
    with pytest.raises(CatalogError, match="unknown grade condition"):
        parse_catalog(data)
    data = json.loads(EXAMPLE.read_text())
    data["categories"][0]["inspection"] = "nope"
    with pytest.raises(CatalogError, match="not an axis"):
        parse_catalog(data)


# -- through the command line, with the real store ------------------------------------------

def cli(tmp_path: Path, *args: str, config: Path | None = None) -> subprocess.CompletedProcess[str]:
    cmd = [OFFICEGUARD, *args]
    if config:
        cmd += ["--config", str(config)]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, timeout=120)


def _level(tmp_path: Path) -> tuple[int, dict[str, Any]]:
    res = cli(tmp_path, "compliance", "--json")
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    return int(doc["estimate"]["level"]), doc


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
    _, before = _level(tmp_path)
    c = check_of(before, "1-1", "policy")
    assert c["state"] == "pass" and c["examined"][0]["result"] == "ok"
    stored.chmod(0o600)
    stored.write_bytes(b"tampered")
    res = cli(tmp_path, "attestations")
    assert res.returncode == 1 and "MISSING OR CHANGED" in res.stdout
    _, after = _level(tmp_path)
    c = check_of(after, "1-1", "policy")
    assert c["state"] == "evidence_invalid" and c["evidence"][0]["hash_ok"] is False
    assert verdict_of(after, "1-1") == "evidence_invalid"


def test_evidence_removed_raises_a_finding_and_an_alert_and_the_level_drops(
        tmp_path: Path) -> None:
    from appliance.attestations import evidence_drafts
    from appliance.config import load as load_config
    from appliance.findings import apply_drafts
    from appliance.guideline import catalog_for

    files = []
    for m, chk in (("1-1", "policy"), ("1-2", "terms"), ("1-3", "manual"), ("2-1", "identity"),
                   ("2-2", "privacy"), ("2-4", "usage_logs"), ("1-5", "security_info"),
                   ("1-4", "training"), ("6-1", "quiet_space")):
        f = tmp_path / f"{m}.pdf"
        f.write_bytes(f"evidence for {m}".encode())
        files.append(f)
        r = cli(tmp_path, "attest", m, "--check", chk, "--evidence", str(f), "--json")
        assert r.returncode == 0, r.stderr
    level_before, doc = _level(tmp_path)
    assert doc["grades"]["audit"] in ("B", "C", "D")  # 2-3 (https) has no data yet
    sha = json.loads(cli(tmp_path, "attestations", "--json").stdout)["attestations"][0][
        "evidence"][0]["sha256"]
    (tmp_path / "officeguard-data" / "evidence" / sha).unlink()
    level_after, doc = _level(tmp_path)
    assert check_of(doc, "1-1", "policy")["state"] == "evidence_invalid"
    assert doc["grades"]["audit"] == "D"  # 1-1 is a key measure of the audit axis
    assert level_after <= level_before
    # the agent's periodic look raises a finding of the measure and an MQTT outbox row
    (tmp_path / "c.toml").write_text(f'[storage]\ndata_dir = "{tmp_path / "officeguard-data"}"\n')
    config = load_config(tmp_path / "c.toml")
    db = tmp_path / "officeguard-data" / "officeguard.db"
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    with conn:
        changes = apply_drafts(conn, evidence_drafts(conn, config, catalog_for(config),
                                                     time.time()))
    assert [(c.change, c.rule) for c in changes if c.change == "new"] == [
        ("new", "evidence.invalid")]
    rows = conn.execute("SELECT topic, payload FROM outbox").fetchall()
    assert any(json.loads(r["payload"])["measure"] == "1-1" and "evidence" in
               json.loads(r["payload"])["rule"] for r in rows), [dict(r) for r in rows]
    conn.close()
    doc = json.loads(cli(tmp_path, "compliance", "--json").stdout)
    m11 = next(m for m in doc["measures"] if m["measure"] == "1-1")
    assert [f["rule"] for f in m11["findings"]] == ["evidence.invalid"]


def test_attest_refuses_what_it_should(tmp_path: Path) -> None:
    assert "needs a reason" in cli(tmp_path, "attest", "5-1", "--not-applicable").stderr
    assert "no measure" in cli(tmp_path, "attest", "9-9", "--check", "x").stderr
    assert "measured by the appliance" in cli(tmp_path, "attest", "3-5", "--check",
                                             "client_isolation").stderr
    assert "cannot read evidence" in cli(tmp_path, "attest", "1-1", "--evidence",
                                         str(tmp_path / "nope.pdf")).stderr
    r = cli(tmp_path, "attest", "1-1", "--valid-days", "36500")
    assert r.returncode == 2 and "1 to 3650" in r.stderr  # a usage error before anything
    r = cli(tmp_path, "attest", "1-1", "--valid-days", "401")
    assert r.returncode == 1 and "between 1 and 400" in r.stderr  # the framework's bound
    r = cli(tmp_path, "attest", "3-4", "--valid-days", "365")
    assert r.returncode == 1 and "between 1 and 62" in r.stderr
    r = cli(tmp_path, "attest", "6-3")
    assert r.returncode == 1 and "not identified" in r.stderr
    r = cli(tmp_path, "attest", "3-3", "--not-applicable", "--note", "対象外")
    assert r.returncode == 1 and "cannot be declared not applicable" in r.stderr
    assert json.loads(cli(tmp_path, "attestations", "--json").stdout)["attestations"] == []
    # 5-x may be N/A while no rental PC is registered (a fact the appliance holds) ...
    ok = cli(tmp_path, "attest", "5-1", "--not-applicable", "--note", "no rental PCs", "--json")
    assert ok.returncode == 0
    doc = json.loads(cli(tmp_path, "compliance", "--json").stdout)
    m = next(m for m in doc["measures"] if m["measure"] == "5-1")
    assert m["verdict"] == "not_applicable"
    # ... and not once one is registered: the PC has not been examined, so 5-1 is unknown
    conf = tmp_path / "rental.toml"
    conf.write_text('[[rental_pcs]]\nlabel = "PC-01"\nmac = "02:00:00:00:00:01"\n',
                    encoding="utf-8")
    doc = json.loads(cli(tmp_path, "compliance", "--json", config=conf).stdout)
    m = next(m for m in doc["measures"] if m["measure"] == "5-1")
    assert m["verdict"] == "unknown"
    assert "condition does not hold" in m["not_applicable_refused_en"]


def test_expiry_through_the_command_line(tmp_path: Path) -> None:
    f = tmp_path / "psk.jpg"
    f.write_bytes(b"photo")
    assert cli(tmp_path, "attest", "3-4", "--valid-days", "31", "--evidence",
               str(f)).returncode == 0
    expires = date.today() + timedelta(days=31)

    def verdict(day: date) -> str:
        doc = json.loads(cli(tmp_path, "compliance", "--json", "--date", day.isoformat()).stdout)
        return verdict_of(doc, "3-4")

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
    assert doc["estimate"]["level"] == 0
    # the captures are old: as of their own day the APs were examined, today they are not
    for c in by["3-3"]["checks"]:
        assert set(c) >= {"state", "examined", "reason", "reason_ja"}


def test_another_framework_as_data_through_the_cli(tmp_path: Path) -> None:
    (tmp_path / "c.toml").write_text(f'[facility]\nframework = "{EXAMPLE}"\n'
                                     '[[facility.ssids]]\nname = "wifi-free"\n')
    assert cli(tmp_path, "ingest", str(pcap("wiguard_hidden_SSID.pcapng")),
               config=tmp_path / "c.toml").returncode == 0
    res = cli(tmp_path, "compliance", "--json", config=tmp_path / "c.toml")
    doc = json.loads(res.stdout)
    assert doc["framework"] == "telework-2022-example"
    assert [a["id"] for a in doc["axes"]] == ["security", "environment"]
    assert verdict_of(doc, "3-1") == "fail"  # the open SSID lands on this framework's 3-1
    assert doc["estimate"]["label_ja"] == "推定 基準未達"
    txt = cli(tmp_path, "compliance", config=tmp_path / "c.toml").stdout
    assert "セキュリティ（1〜5章） NG" in txt and "構造例です" in txt
    (tmp_path / "bad.toml").write_text('[facility]\nframework = "nope"\n')
    res = cli(tmp_path, "compliance", config=tmp_path / "bad.toml")
    assert res.returncode == 1 and "no framework 'nope'" in res.stderr


def test_export_includes_evidence_files_in_the_signed_manifest(tmp_path: Path) -> None:
    keep = tmp_path / "規程.pdf"
    keep.write_bytes(b"%PDF policy " * 100)
    gone = tmp_path / "terms.pdf"
    gone.write_bytes(b"terms")
    for m, f in (("1-1", keep), ("1-2", gone)):
        assert cli(tmp_path, "attest", m, "--evidence", str(f)).returncode == 0
    rows = json.loads(cli(tmp_path, "attestations", "--json").stdout)["attestations"]
    sha_gone = next(a for a in rows if a["measure"] == "1-2")["evidence"][0]["sha256"]
    (tmp_path / "officeguard-data" / "evidence" / sha_gone).unlink()
    res = cli(tmp_path, "export", "--from", "2020-01-01", "--to", "2030-12-31", "--formats",
              "json", "--json")
    assert res.returncode == 0, res.stderr
    folder = Path(json.loads(res.stdout)["folder"])
    doc = json.loads((folder / "export.json").read_text())
    by = {e["measure"]: e for e in doc["evidence_files"]}
    assert by["1-1"]["included"] and (folder / by["1-1"]["file"]).read_bytes() == keep.read_bytes()
    assert not by["1-2"]["included"] and "missing" in by["1-2"]["why"]
    manifest = json.loads((folder / "manifest.json").read_text())
    listed = {f["name"]: f["sha256"] for f in manifest["files"]}
    assert listed[by["1-1"]["file"]] == by["1-1"]["sha256"]
    assert cli(tmp_path, "verify-export", str(folder)).returncode == 0
