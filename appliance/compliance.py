"""Guideline compliance: check states → measure verdicts → audit and vulnerability grades →
the estimated certification level. Pure: facts in, a verdict document out.

The grading rule is the labelled PROPOSAL of ../shared/docs/guideline.md §6.3, summarised in
docs/compliance.md. It estimates; only a designated inspector's report leads to certification.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from appliance.guideline import DEFAULT_FRAMEWORK, Catalog

PASS, WARN, FAIL, UNKNOWN, EXPIRED, NA = (
    "pass", "warn", "fail", "unknown", "expired", "not_applicable")
ACTIVE = ("open", "acknowledged", "reopened")
AUDIT_CATEGORIES = (1, 2, 6)
VULN_CATEGORIES = (3, 4, 5)
AUDIT_KEY_MEASURES = ("1-1", "2-2", "2-3")
STAR_LABELS_JA = {3: "★★★ 信頼", 2: "★★ 安全", 1: "★ 安心", 0: "認証不可"}
STAR_LABELS_EN = {3: "★★★ Trusted", 2: "★★ Safe", 1: "★ Secure", 0: "Not certifiable"}
REASONS_JA = {
    "findings of high or critical severity are open": "重大度の高い検出事項が未解決です",
    "findings of low or medium severity are open": "注意すべき検出事項が未解決です",
    "measured, nothing found": "計測済み・問題なし",
    "not attested yet": "未申告（証跡がありません）",
    "attested as not met": "未実施として申告されています",
    "attested": "申告済み",
    "not assessed by the appliance (6-③)": "本機では評価しない対策です（6-③）",
}


def reason_ja(reason: str) -> str:
    if reason in REASONS_JA:
        return REASONS_JA[reason]
    if reason.startswith("no data yet"):
        return "データがまだありません"
    if reason.startswith("evidence expired on "):
        return f"証跡の有効期限切れ（{reason.removeprefix('evidence expired on ')}）"
    return reason  # a person's own words (a not-applicable reason) stay as written


DISCLAIMER_JA = ("本表示は機器による推定であり、認証は指定検査事業者の検査結果に基づき"
                 "認証機関が付与するものです。")
DISCLAIMER_EN = ("This is the appliance's estimate. Certification is granted by the certification "
                 "body on the basis of a designated inspector's report.")


@dataclass(frozen=True, slots=True)
class FindingFact:
    id: int
    rule: str
    measure: str
    severity: str
    subject: str
    title_ja: str
    title_en: str


@dataclass(frozen=True, slots=True)
class AttestationFact:
    id: int
    measure: str
    check: str  # "*" for the whole measure (not applicable)
    result: str  # pass | fail | not_applicable
    actor: str
    note: str
    attested_on: date
    valid_days: int
    evidence: tuple[dict[str, Any], ...] = ()

    @property
    def expires_on(self) -> date:
        return self.attested_on + timedelta(days=self.valid_days)


@dataclass
class Facts:
    findings: list[FindingFact] = field(default_factory=list)  # active findings only
    attestations: list[AttestationFact] = field(default_factory=list)  # latest first
    coverage: Mapping[str, bool] = field(default_factory=dict)
    today: date = field(default_factory=date.today)


def _check_auto(chk: dict[str, Any], findings: list[FindingFact], covered: bool
                ) -> tuple[str, list[FindingFact], str]:
    rules = set(chk.get("rules", ()))
    hits = [f for f in findings if f.rule in rules and f.severity != "info"]
    if any(f.severity in ("high", "critical") for f in hits):
        return FAIL, hits, "findings of high or critical severity are open"
    if hits:
        return WARN, hits, "findings of low or medium severity are open"
    if covered:
        return PASS, [], "measured, nothing found"
    return UNKNOWN, [], f"no data yet ({chk.get('coverage')})"


def _check_attest(chk: dict[str, Any], att: AttestationFact | None, today: date
                  ) -> tuple[str, str, dict[str, Any]]:
    if att is None:
        return UNKNOWN, "not attested yet", {}
    info = {"attestation_id": att.id, "attested_on": att.attested_on.isoformat(),
            "expires_on": att.expires_on.isoformat(), "by": att.actor, "note": att.note,
            "evidence": list(att.evidence)}
    remind_from = att.expires_on - timedelta(days=int(chk.get("remind_days", 30)))
    info["remind_from"] = remind_from.isoformat()
    if att.result == NA:
        return NA, att.note, info
    if att.result == FAIL:
        return FAIL, "attested as not met", info
    if today >= att.expires_on:
        return EXPIRED, f"evidence expired on {att.expires_on.isoformat()}", info
    info["reminder"] = today >= remind_from
    return PASS, "attested", info


def measure_verdict(states: Iterable[str]) -> str:
    s = [x for x in states if x != NA]
    if not s:
        return NA
    for v in (FAIL, EXPIRED, UNKNOWN, WARN):
        if v in s:
            return v
    return PASS


def evaluate(catalog: Catalog, facts: Facts) -> dict[str, Any]:
    latest: dict[tuple[str, str], AttestationFact] = {}
    for a in facts.attestations:
        latest.setdefault((a.measure, a.check), a)
    measures: list[dict[str, Any]] = []
    # Findings carry the measure of the product's own framework; in another framework a check
    # is tied to findings by their rules alone.
    native = catalog.framework_id == DEFAULT_FRAMEWORK
    for m in catalog.measures:
        mine = [f for f in facts.findings if not native or f.measure == m.id]
        whole = latest.get((m.id, "*"))
        checks = []
        for chk in m.checks:
            out: dict[str, Any] = {"check": chk["id"], "kind": "assisted" if chk.get(
                "assisted") else chk["kind"], "title_ja": chk["title_ja"],
                "title_en": chk["title_en"]}
            if m.level == "unknown":
                out.update(state=NA, reason="not assessed by the appliance (6-③)")
            elif whole is not None and whole.result == NA:
                out.update(state=NA, reason=whole.note, attestation_id=whole.id)
            elif chk["kind"] == "auto":
                state, hits, why = _check_auto(
                    chk, mine, bool(facts.coverage.get(chk.get("coverage", ""), False)))
                out.update(state=state, reason=why, findings=[f.id for f in hits])
            else:
                state, why, info = _check_attest(chk, latest.get((m.id, chk["id"])),
                                                 facts.today)
                out.update(state=state, reason=why, **info)
            out["reason_ja"] = reason_ja(str(out.get("reason", "")))
            checks.append(out)
        verdict = measure_verdict(c["state"] for c in checks)
        rules = {r for chk in m.checks for r in chk.get("rules", ())}
        related = [f for f in mine if f.severity != "info" and (native or f.rule in rules)]
        measures.append({
            "measure": m.id, "category": m.category, "number": m.number,
            "title_ja": m.title_ja, "title_en": m.title_en, "level": m.level,
            "inspection": m.inspection, "verdict": verdict, "checks": checks,
            "findings": [{"id": f.id, "rule": f.rule, "severity": f.severity,
                          "subject": f.subject, "title_ja": f.title_ja,
                          "title_en": f.title_en} for f in related],
            "remediation_ja": m.remediation_ja if verdict not in (PASS, NA) else "",
            "remediation_en": m.remediation_en if verdict not in (PASS, NA) else "",
        })
    grades = {mode: {"audit": audit_grade(measures, facts, mode),
                     "vulnerability": vulnerability_grade(measures, facts, mode)}
              for mode in ("conservative", "optimistic")}
    stars = stars_of(grades["conservative"]["audit"], grades["conservative"]["vulnerability"])
    best = stars_of(grades["optimistic"]["audit"], grades["optimistic"]["vulnerability"])
    applicable = [c for m in measures for c in m["checks"] if c["state"] != NA]
    fresh = [c for c in applicable if c["state"] in (PASS, WARN, FAIL)]
    conf = len(fresh) / len(applicable) if applicable else 0.0
    reminders = [{"measure": m["measure"], "check": c["check"], "expires_on": c["expires_on"]}
                 for m in measures for c in m["checks"] if c.get("reminder")]
    label = STAR_LABELS_JA[stars] if stars == best else (
        f"{STAR_LABELS_JA[stars]}〜{STAR_LABELS_JA[best]}")
    return {
        "framework": catalog.framework_id,
        "date": facts.today.isoformat(),
        "measures": measures,
        "grades": {"audit": grades["conservative"]["audit"],
                   "vulnerability": grades["conservative"]["vulnerability"],
                   "optimistic": grades["optimistic"]},
        "estimate": {
            "stars": stars,
            "stars_optimistic": best,
            "label_ja": f"推定 {label}",
            "label_en": f"Estimated {STAR_LABELS_EN[stars]}" + (
                "" if stars == best else f" to {STAR_LABELS_EN[best]}"),
            "confidence": round(conf, 2),
            "confidence_level": "high" if conf >= 0.9 else "medium" if conf >= 0.7 else "low",
            "disclaimer_ja": DISCLAIMER_JA,
            "disclaimer_en": DISCLAIMER_EN,
        },
        "reminders": reminders,
    }


def _mapped(verdict: str, mode: str) -> str:
    if verdict in (UNKNOWN, EXPIRED):
        return FAIL if mode == "conservative" else PASS
    return verdict


def _criticals(facts: Facts, categories: tuple[int, ...]) -> int:
    return sum(1 for f in facts.findings if f.severity == "critical"
               and int(f.measure.split("-")[0]) in categories)


def _grade(measures: list[dict[str, Any]], categories: tuple[int, ...], mode: str,
           key_measures: tuple[str, ...] = ()) -> tuple[list[str], list[str], bool]:
    basic = [_mapped(m["verdict"], mode) for m in measures
             if m["category"] in categories and m["level"] == "basic" and m["verdict"] != NA]
    advanced = [_mapped(m["verdict"], mode) for m in measures
                if m["category"] in categories and m["level"] == "advanced"
                and m["verdict"] != NA]
    key_fail = any(_mapped(m["verdict"], mode) == FAIL for m in measures
                   if m["measure"] in key_measures)
    return basic, advanced, key_fail


def vulnerability_grade(measures: list[dict[str, Any]], facts: Facts, mode: str) -> str:
    crit = _criticals(facts, VULN_CATEGORIES)
    if crit >= 2:
        return "E"
    basic, advanced, _ = _grade(measures, VULN_CATEGORIES, mode)
    passed = sum(1 for v in basic if v in (PASS, WARN))
    if crit == 1 or passed * 2 < len(basic):
        return "D"
    return _c_b_or_a(basic, advanced)


def _c_b_or_a(basic: list[str], advanced: list[str]) -> str:
    if FAIL in basic:
        return "C"
    if all(v == PASS for v in basic) and all(v == PASS for v in advanced):
        return "A"
    return "B"


def audit_grade(measures: list[dict[str, Any]], facts: Facts, mode: str) -> str:
    if mode == "conservative" and not any(a.result != NA for a in facts.attestations):
        return "E"  # no evidence uploaded at all: not assessable
    basic, advanced, key_fail = _grade(measures, AUDIT_CATEGORIES, mode, AUDIT_KEY_MEASURES)
    passed = sum(1 for v in basic if v in (PASS, WARN))
    if _criticals(facts, AUDIT_CATEGORIES) or key_fail or passed * 2 < len(basic):
        return "D"
    return _c_b_or_a(basic, advanced)


AUDIT_CAP = {"A": 3, "B": 2, "C": 1, "D": 0, "E": 0}
VULN_CAP = {"A": 3, "B": 3, "C": 1, "D": 0, "E": 0}


def stars_of(audit: str, vulnerability: str) -> int:
    """The seed's star table as min(audit cap, vulnerability cap) (guideline.md §6.2)."""
    return min(AUDIT_CAP[audit], VULN_CAP[vulnerability])
