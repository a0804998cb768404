"""Guideline compliance: check states → measure verdicts → per-axis grades → the estimated
outcome level. Pure: facts in, a verdict document out.

Everything that belongs to a particular scheme (its axes and categories, key measures, critical
findings, the grade rules and caps, the outcome labels, the disclaimer, validity and freshness
defaults, not-applicable conditions) comes from the framework file (appliance/guideline.py loads
it). This module only knows the vocabulary those rules are written in; see docs/compliance.md.

A pass needs a test that could have failed: an automatic check passes only when something it is
about was examined inside its freshness window, an attested one only with current evidence whose
hash still matches.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from appliance.domain import CheckState
from appliance.guideline import Catalog, Measure
from appliance.i18n import N_, both, gettext

PASS, WARN, FAIL, UNKNOWN, EXPIRED, NA = (
    CheckState.PASS, CheckState.WARN, CheckState.FAIL, CheckState.UNKNOWN, CheckState.EXPIRED,
    CheckState.NOT_APPLICABLE)
EVIDENCE_INVALID = CheckState.EVIDENCE_INVALID
STATES = (PASS, WARN, FAIL, UNKNOWN, EXPIRED, EVIDENCE_INVALID, NA)
# worst first: the verdict of a measure is the worst state among its applicable checks
_WORST = (FAIL, EVIDENCE_INVALID, EXPIRED, UNKNOWN, WARN, PASS)

# Generic wording (no scheme in it); the framework file adds its own disclaimer.
GENERIC_DISCLAIMER = N_("This is OfficeGuard's estimate, not a certification.")

# why a check is in its state (msgids; the Japanese is in the catalog)
REASONS = {
    "high_findings": N_("findings of high or critical severity are open"),
    "low_findings": N_("findings of low or medium severity are open"),
    "low_findings_unexamined":
        N_("findings of low or medium severity are open, but nothing was examined in the window"),
    "examined": N_("examined, nothing found"),
    "not_attested": N_("not attested yet"),
    "no_evidence": N_("attested without an evidence file"),
    "attested_fail": N_("attested as not met"),
    "attested": N_("attested, evidence verified"),
    "evidence_invalid": N_("an evidence file is missing or was changed"),
}


@dataclass(frozen=True, slots=True)
class FindingFact:
    id: int
    rule: str
    measure: str  # where the product filed it (the check slot the rule was raised under)
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


@dataclass(frozen=True, slots=True)
class Observation:
    """Something an automatic check actually examined: under coverage key `key`, the thing
    `what` (a device, an AP, a target, a peer), at `at` (epoch seconds)."""
    key: str
    what: str
    at: float
    result: str = ""


@dataclass
class Facts:
    findings: list[FindingFact] = field(default_factory=list)  # active findings only
    attestations: list[AttestationFact] = field(default_factory=list)  # latest first
    observations: list[Observation] = field(default_factory=list)
    today: date = field(default_factory=date.today)
    conditions: Mapping[str, bool] = field(default_factory=dict)  # N/A conditions that hold


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts).isoformat(timespec="seconds")


def _rule_matches(pattern: str, rule: str) -> bool:
    return rule.startswith(pattern[:-1]) if pattern.endswith("*") else rule == pattern


def finding_hits(chk: Mapping[str, Any], findings: Iterable[FindingFact]) -> list[FindingFact]:
    """The findings of a check: its rules (prefix patterns end in *), narrowed to the product
    slots it takes them from (`filed_under`) when the framework says so."""
    rules = tuple(chk.get("rules", ()))
    under = chk.get("filed_under")
    return [f for f in findings if any(_rule_matches(p, f.rule) for p in rules)
            and (not under or f.measure in under)]


def _reason(out: dict[str, Any], key: str) -> None:
    out["reason_ja"], out["reason"] = both(REASONS[key])


def _check_auto(chk: dict[str, Any], hits: list[FindingFact], facts: Facts,
                fresh_default: int, by_key: Mapping[str, list[Observation]]
                ) -> dict[str, Any]:
    out: dict[str, Any] = {"findings": [f.id for f in hits]}
    keys = chk.get("coverage")
    keys = [keys] if isinstance(keys, str) else list(keys or ())
    fresh_days = int(chk.get("fresh_days", fresh_default))
    out["fresh_days"] = fresh_days
    cutoff = datetime.combine(facts.today - timedelta(days=fresh_days), datetime.min.time())
    end = datetime.combine(facts.today + timedelta(days=1), datetime.min.time())
    seen = [o for k in keys for o in by_key.get(k, ()) if o.at < end.timestamp()]
    fresh = [o for o in seen if o.at >= cutoff.timestamp()]
    out["examined"] = [{"what": o.what, "at": _iso(o.at), **({"result": o.result}
                                                             if o.result else {})}
                       for o in sorted(fresh, key=lambda o: -o.at)[:50]]
    if any(f.severity in ("high", "critical") for f in hits):
        out["state"] = FAIL
        _reason(out, "high_findings")
    elif hits and fresh:
        out["state"] = WARN
        _reason(out, "low_findings")
    elif hits:
        # a minor finding is not an examination: without current data the check stays unknown
        # (else adding a finding could lift an unexamined check from unknown to warn)
        out["state"] = UNKNOWN
        _reason(out, "low_findings_unexamined")
    elif fresh:
        out["state"] = PASS
        _reason(out, "examined")
    else:
        out["state"] = UNKNOWN
        default_ja, default_en = both("nothing this check is about has been examined")
        ja = chk.get("unknown_ja", default_ja)
        en = chk.get("unknown_en", default_en)
        if seen:
            last = _iso(max(o.at for o in seen))[:10]
            stale = N_("{reason} (last examined {date}, older than the {days}-day window)")
            ja = gettext(stale, "ja", reason=ja, date=last, days=fresh_days)
            en = gettext(stale, "en", reason=en, date=last, days=fresh_days)
        out["reason_ja"], out["reason"] = ja, en
    return out


def _check_attest(chk: dict[str, Any], att: AttestationFact | None, today: date
                  ) -> dict[str, Any]:
    out: dict[str, Any] = {"examined": []}
    if att is None:
        out["state"] = UNKNOWN
        _reason(out, "not_attested")
        return out
    remind_from = att.expires_on - timedelta(days=int(chk.get("remind_days", 30)))
    out.update({"attestation_id": att.id, "attested_on": att.attested_on.isoformat(),
                "expires_on": att.expires_on.isoformat(), "by": att.actor, "note": att.note,
                "evidence": list(att.evidence), "remind_from": remind_from.isoformat()})
    out["examined"] = [{"what": f"evidence {e.get('name', '')} sha256 "
                        f"{str(e.get('sha256', ''))[:16]}", "at": att.attested_on.isoformat(),
                        "result": "ok" if e.get("hash_ok") else "invalid"}
                       for e in att.evidence]
    if att.result == FAIL:
        out["state"] = FAIL
        _reason(out, "attested_fail")
    elif any(not e.get("hash_ok") for e in att.evidence):
        out["state"] = EVIDENCE_INVALID
        _reason(out, "evidence_invalid")
    elif today >= att.expires_on:
        out["state"] = EXPIRED
        out["reason_ja"], out["reason"] = both("evidence expired on {date}",
                                               date=att.expires_on.isoformat())
    elif not att.evidence:
        out["state"] = UNKNOWN
        _reason(out, "no_evidence")
    else:
        out["state"] = PASS
        _reason(out, "attested")
        out["reminder"] = today >= remind_from
    return out


def measure_verdict(states: Iterable[str]) -> str:
    s = [x for x in states if x != NA]
    if not s:
        return NA
    for v in _WORST:
        if v in s:
            return v
    return PASS


def na_allowed(catalog: Catalog, m: Measure, conditions: Mapping[str, bool]
               ) -> tuple[bool, str, str]:
    """May this measure be not applicable now? (allowed, why_ja, why_en)"""
    spec = m.not_applicable
    if m.unidentified:
        return True, m.unidentified_ja, m.unidentified_en
    if not spec:
        return (False, *both(
            "every facility needs this measure: it cannot be declared not applicable"))
    cond = condition_id(spec)
    if cond and not conditions.get(cond, False):
        msgid = N_("the not-applicable condition does not hold: {condition}")
        return False, gettext(msgid, "ja", condition=spec.get("condition_ja", cond)), gettext(
            msgid, "en", condition=spec.get("condition_en", cond))
    return True, spec.get("condition_ja", ""), spec.get("condition_en", "")


def condition_id(spec: Mapping[str, Any]) -> str:
    """The condition the appliance checks for an N/A spec ('' when a declaration suffices)."""
    classes = spec.get("no_devices")
    if classes:
        return f"no_devices:{','.join(sorted(classes))}:{int(spec.get('days', 30))}"
    return ""


def evaluate(catalog: Catalog, facts: Facts) -> dict[str, Any]:
    sch = catalog.scheme
    latest: dict[tuple[str, str], AttestationFact] = {}
    for a in facts.attestations:
        if a.attested_on <= facts.today:
            latest.setdefault((a.measure, a.check), a)
    measures: list[dict[str, Any]] = []
    active = [f for f in facts.findings if f.severity != "info"]
    by_key: dict[str, list[Observation]] = {}
    for o in facts.observations:
        by_key.setdefault(o.key, []).append(o)
    for m in catalog.measures:
        whole = latest.get((m.id, "*"))
        na_ok, na_ja, na_en = na_allowed(catalog, m, facts.conditions)
        declared = m.unidentified or (whole is not None and whole.result == NA)
        checks = []
        related: dict[int, FindingFact] = {}
        for chk in m.checks:
            out: dict[str, Any] = {"check": chk["id"], "kind": "assisted" if chk.get(
                "assisted") else chk["kind"], "title_ja": chk["title_ja"],
                "title_en": chk["title_en"]}
            hits = finding_hits(chk, active)
            related.update((f.id, f) for f in hits)
            if chk["kind"] == "auto":
                out.update(_check_auto(chk, hits, facts, sch["fresh_days"], by_key))
            else:
                out.update(_check_attest(chk, latest.get((m.id, chk["id"])), facts.today))
            # N/A is a fact the appliance can check, and it never hides an active finding
            # or a failing check: those decide the verdict
            if declared and na_ok and out["state"] not in (FAIL, WARN, EVIDENCE_INVALID):
                out.update(state=NA, reason_ja=na_ja or (whole.note if whole else ""),
                           reason=na_en or (whole.note if whole else ""))
                if whole is not None:
                    out["attestation_id"] = whole.id
            out["remediation_ja"] = chk.get("remediation_ja", "") if out["state"] not in (
                PASS, NA) else ""
            out["remediation_en"] = chk.get("remediation_en", "") if out["state"] not in (
                PASS, NA) else ""
            out["references"] = list(chk.get("references", ())) if out["remediation_ja"] else []
            checks.append(out)
        verdict = measure_verdict(c["state"] for c in checks)
        doc: dict[str, Any] = {
            "measure": m.id, "category": m.category, "number": m.number,
            "title_ja": m.title_ja, "title_en": m.title_en, "level": m.level,
            "inspection": m.inspection, "verdict": verdict, "checks": checks,
            "findings": [{"id": f.id, "rule": f.rule, "severity": f.severity,
                          "subject": f.subject, "title_ja": f.title_ja,
                          "title_en": f.title_en} for f in related.values()],
            "remediation_ja": m.remediation_ja if verdict not in (PASS, NA) else "",
            "remediation_en": m.remediation_en if verdict not in (PASS, NA) else "",
        }
        if whole is not None and whole.result == NA and not na_ok:
            doc["not_applicable_refused_ja"], doc["not_applicable_refused_en"] = na_ja, na_en
        measures.append(doc)
    return _estimate(catalog, facts, measures)


def _estimate(catalog: Catalog, facts: Facts, measures: list[dict[str, Any]]
              ) -> dict[str, Any]:
    sch = catalog.scheme
    grades = {mode: {ax["id"]: axis_grade(catalog, ax, measures, facts, mode)
                     for ax in sch["axes"]} for mode in ("conservative", "optimistic")}
    level = outcome_level(catalog, grades["conservative"])
    best = outcome_level(catalog, grades["optimistic"])
    applicable = [c for m in measures for c in m["checks"] if c["state"] != NA]
    fresh = [c for c in applicable if c["state"] in (PASS, WARN, FAIL, EVIDENCE_INVALID)]
    conf = len(fresh) / len(applicable) if applicable else 0.0
    conf_level = ("high" if conf >= sch["confidence"]["high"] else
                  "medium" if conf >= sch["confidence"]["medium"] else "low")
    show_best = conf_level != "low" and best != level
    labels = {int(lv["level"]): lv for lv in sch["levels"]}
    default_ja, default_en = both("Estimated")
    prefix_ja = sch.get("estimate_prefix_ja", default_ja)
    prefix_en = sch.get("estimate_prefix_en", default_en)
    label_ja, label_en = labels[level]["label_ja"], labels[level]["label_en"]
    if show_best:
        upto = N_("{level} (up to {best})")
        label_ja = gettext(upto, "ja", level=label_ja, best=labels[best]["label_ja"])
        label_en = gettext(upto, "en", level=label_en, best=labels[best]["label_en"])
    missing = [{"measure": m["measure"], "check": c["check"], "state": c["state"],
                "reason": c["reason"], "reason_ja": c["reason_ja"]}
               for m in measures for c in m["checks"]
               if c["state"] in (UNKNOWN, EXPIRED, EVIDENCE_INVALID)]
    reminders = [{"measure": m["measure"], "check": c["check"], "expires_on": c["expires_on"],
                  "title_ja": c["title_ja"], "title_en": c["title_en"]}
                 for m in measures for c in m["checks"] if c.get("reminder")]
    estimate: dict[str, Any] = {
        "level": level,
        "level_conservative": level,
        "level_optimistic": best if show_best else None,
        "optimistic_shown": show_best,
        "label_ja": f"{prefix_ja} {label_ja}",
        "label_en": f"{prefix_en} {label_en}",
        "confidence": round(conf, 2),
        "confidence_level": conf_level,
        "disclaimer_ja": " ".join(x for x in (gettext(GENERIC_DISCLAIMER, "ja"),
                                              sch.get("disclaimer_ja", "")) if x),
        "disclaimer_en": " ".join(x for x in (gettext(GENERIC_DISCLAIMER, "en"),
                                              sch.get("disclaimer_en", "")) if x),
        "missing": missing[:100],
        "missing_count": len(missing),
    }
    if not show_best and best != level:
        estimate["why_no_range_ja"], estimate["why_no_range_en"] = both(
            "{n} checks lack current data, so no optimistic bound is shown "
            "(it is shown from medium confidence)", n=len(missing))
    # the old names stay for the dashboard, MQTT state and exports that read them
    estimate["stars"], estimate["stars_optimistic"] = level, (best if show_best else level)
    return {
        "framework": catalog.framework_id,
        "report_title_ja": sch.get("report_title_ja", catalog.title_ja),
        "report_title_en": sch.get("report_title_en", catalog.title_en),
        "date": facts.today.isoformat(),
        "measures": measures,
        "axes": [{"id": ax["id"], "title_ja": ax.get("title_ja", ax["id"]),
                  "title_en": ax.get("title_en", ax["id"])} for ax in sch["axes"]],
        "grades": {**grades["conservative"], "optimistic": grades["optimistic"]},
        "estimate": estimate,
        "reminders": reminders,
    }


def _mapped(verdict: str, mode: str) -> str:
    if verdict == EVIDENCE_INVALID:
        return FAIL
    if verdict in (UNKNOWN, EXPIRED):
        return FAIL if mode == "conservative" else PASS
    return verdict


def axis_grade(catalog: Catalog, axis: Mapping[str, Any], measures: list[dict[str, Any]],
               facts: Facts, mode: str) -> str:
    """The first grade rule of the axis whose conditions all hold (rules without conditions
    match anything, so the last one is the default)."""
    cats = {c.id for c in catalog.categories if c.inspection == axis["id"]}
    mine = [m for m in measures if m["category"] in cats and m["verdict"] != NA]
    basic = [_mapped(m["verdict"], mode) for m in mine if m["level"] == "basic"]
    advanced = [_mapped(m["verdict"], mode) for m in mine if m["level"] == "advanced"]
    crit = catalog.scheme["critical"]
    criticals = {f["id"] for m in measures if m["category"] in cats for f in m["findings"]
                 if f["severity"] in crit.get("severities", ())
                 or any(_rule_matches(p, f["rule"]) for p in crit.get("rules", ()))}
    key = set(axis.get("key_measures", ()))
    facts_now = {
        "criticals": len(criticals),
        "no_evidence": mode == "conservative" and not any(
            a.result != NA and a.evidence for a in facts.attestations
            if a.attested_on <= facts.today),
        "key_fail": any(_mapped(m["verdict"], mode) == FAIL for m in mine
                        if m["measure"] in key),
        "basic_pass_share": (sum(1 for v in basic if v in (PASS, WARN)) / len(basic)
                             if basic else 1.0),
        "basic_fail": FAIL in basic,
        "basic_all_pass": all(v == PASS for v in basic),
        "advanced_all_pass": all(v == PASS for v in advanced),
        "advanced_fail": FAIL in advanced,
    }
    for rule in axis["grades"]:
        if _rule_holds(rule, facts_now):
            return str(rule["grade"])
    return str(axis["grades"][-1]["grade"])


def _rule_holds(rule: Mapping[str, Any], f: Mapping[str, Any]) -> bool:
    """`any`: one of the conditions holds; `all`: each holds; neither: always."""
    def one(c: Mapping[str, Any]) -> bool:
        ok = True
        if "criticals_min" in c:
            ok &= f["criticals"] >= int(c["criticals_min"])
        if "basic_pass_share_below" in c:
            ok &= f["basic_pass_share"] < float(c["basic_pass_share_below"])
        for flag in ("no_evidence", "key_fail", "basic_fail", "basic_all_pass",
                     "advanced_all_pass", "advanced_fail"):
            if flag in c:
                ok &= bool(f[flag]) == bool(c[flag])
        return ok

    if "any" in rule:
        return any(one(c) for c in rule["any"])
    if "all" in rule:
        return all(one(c) for c in rule["all"])
    return True


def outcome_level(catalog: Catalog, grades: Mapping[str, str]) -> int:
    """The outcome is the lowest cap any axis grade allows."""
    caps = catalog.scheme["caps"]
    return min(int(caps[ax][g]) for ax, g in grades.items())


def stars_of(catalog: Catalog, **grades: str) -> int:
    return outcome_level(catalog, grades)


def todo_list(doc: Mapping[str, Any], days: int = 30) -> list[dict[str, Any]]:
    """What to do next, for the overview: evidence that expires within `days`, then checks
    that fail for bad evidence, are expired, or are unknown for lack of data; each with the
    action to take."""
    today = date.fromisoformat(str(doc["date"]))
    out: list[dict[str, Any]] = []
    for m in doc["measures"]:
        for c in m["checks"]:
            base = {"measure": m["measure"], "check": c["check"], "state": c["state"],
                    "title_ja": f"{m['measure']} {c['title_ja']}",
                    "title_en": f"{m['measure']} {c['title_en']}"}
            exp = c.get("expires_on")
            if c["state"] == PASS and exp and date.fromisoformat(exp) - today <= timedelta(
                    days=days):
                ja, en = both("Evidence expires on {date}: upload new evidence", date=exp)
                out.append({**base, "kind": "expiring", "due": exp,
                            "action_ja": ja, "action_en": en})
            elif c["state"] in (EVIDENCE_INVALID, EXPIRED, UNKNOWN):
                attest = c["kind"] == "attest"
                ja, en = (both("attest with an evidence file") if attest
                          else (c["reason_ja"], c["reason"]))
                if c["state"] != UNKNOWN or (attest and c.get("attestation_id")):
                    again = N_("{reason}: upload the evidence again")
                    ja = gettext(again, "ja", reason=c["reason_ja"])
                    en = gettext(again, "en", reason=c["reason"])
                out.append({**base, "kind": c["state"], "due": "",
                            "action_ja": ja, "action_en": en})
    rank = {"expiring": 1, EVIDENCE_INVALID: 0, EXPIRED: 2, UNKNOWN: 3}
    out.sort(key=lambda r: (rank[r["kind"]], r["due"], r["measure"]))
    return out
