"""Property tests: the estimate never overclaims. Over generated facilities (findings,
attestations with good, changed or missing evidence, N/A declarations with and without their
condition, examinations of every age), making things worse never raises the estimate: adding a
failing finding, removing or altering evidence, letting time pass, or marking something examined
as untested. 10,000 facilities per property run (derandomized, so a failure reproduces)."""

from __future__ import annotations

import os
import random
from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from appliance.compliance import (
    AttestationFact,
    Facts,
    FindingFact,
    Observation,
    condition_id,
    evaluate,
    outcome_level,
)
from appliance.guideline import load_catalog

CAT = load_catalog()
TODAY = date(2026, 11, 26)
NOON = datetime.combine(TODAY, datetime.min.time()).timestamp() + 12 * 3600
EXAMPLES = int(os.environ.get("OFFICEGUARD_PROPERTY_EXAMPLES", "10000"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
                    suppress_health_check=list(HealthCheck))

# (rule, where the product files it) pairs that some check of the framework takes
SLOTS = sorted({(r.replace("*", "disk_low"), m.id) for m in CAT.measures for c in m.checks
                for r in c.get("rules", ()) for _ in [0]})
ATTEST = [(m.id, c["id"], int(c["valid_days"])) for m in CAT.measures if not m.unidentified
          for c in m.checks if c["kind"] == "attest"]
KEYS = sorted({c["coverage"] for m in CAT.measures for c in m.checks if c.get("coverage")})
CONDS = sorted({condition_id(m.not_applicable) for m in CAT.measures if m.not_applicable}
               - {""})
MEASURES = [m.id for m in CAT.measures]


def facility(seed: int) -> Facts:
    """A random facility from a seed (hypothesis draws the seed: one draw per facility keeps
    10,000 of them affordable; the seed is printed when a property fails)."""
    rnd = random.Random(seed)
    findings = []
    for i in range(rnd.randint(0, 6)):
        rule, measure = rnd.choice(SLOTS)
        sev = rnd.choice(("low", "medium", "high", "critical"))
        findings.append(FindingFact(i + 1, rule, measure, sev, f"s{i}", "t", "t"))
    atts = []
    n = 0
    for measure, check, valid in ATTEST:
        if rnd.random() < 0.4:
            continue
        n += 1
        ev = rnd.choice(("none", "ok", "ok", "ok", "bad"))
        evidence = () if ev == "none" else (
            {"name": "f", "sha256": "ab" * 32, "size": 1, "hash_ok": ev == "ok"},)
        atts.append(AttestationFact(n, measure, check, rnd.choice(("pass", "pass", "pass",
                                                                   "fail")), "t", "",
                                    TODAY - timedelta(days=rnd.randint(0, 420)), valid,
                                    evidence))
    for measure in rnd.sample(MEASURES, rnd.randint(0, 8)):
        n += 1
        atts.append(AttestationFact(n, measure, "*", "not_applicable", "t", "対象外",
                                    TODAY - timedelta(days=rnd.randint(0, 100)), 365))
    atts.sort(key=lambda a: -a.id)
    observations = [Observation(k, f"x {k}", NOON - rnd.randint(0, 40) * 86400 - rnd.random())
                    for k in KEYS if rnd.random() < 0.7]
    conditions = {c: rnd.random() < 0.5 for c in CONDS}
    return Facts(findings, atts, observations, TODAY, conditions)


def facilities() -> Any:
    return st.integers(0, 2**63).map(facility)


def levels(facts: Facts) -> tuple[int, int]:
    doc = evaluate(CAT, facts)
    e = doc["estimate"]
    assert e["level"] == e["level_conservative"]
    optimistic = outcome_level(CAT, doc["grades"]["optimistic"])
    assert e["level"] <= optimistic
    if e["level_optimistic"] is not None:  # shown only at medium confidence or better
        assert e["confidence_level"] in ("medium", "high")
        assert e["level_optimistic"] == optimistic
    return e["level"], optimistic


def not_raised(before: Facts, after: Facts) -> None:
    b, a = levels(before), levels(after)
    assert a[0] <= b[0] and a[1] <= b[1], (b, a)


@SETTINGS
@given(facilities(), st.sampled_from(SLOTS), st.sampled_from(("high", "critical")))
def test_adding_a_failing_finding_never_raises(facts: Facts, slot: tuple[str, str],
                                               sev: str) -> None:
    extra = FindingFact(999, slot[0], slot[1], sev, "new", "t", "t")
    not_raised(facts, replace(facts, findings=[*facts.findings, extra]))


@SETTINGS
@given(facilities(), st.integers(0, 10_000), st.sampled_from(("remove", "alter", "without")))
def test_removing_or_altering_evidence_never_raises(facts: Facts, pick: int, how: str) -> None:
    """In the store an evidence row outlives its file: a removed file and a changed one both
    fail the hash check. "without" is the same attestation made with no file at all, compared
    with one whose file was verified."""
    with_ev = [i for i, a in enumerate(facts.attestations) if a.evidence and (
        how != "without" or all(e["hash_ok"] for e in a.evidence))]
    if not with_ev:
        return
    i = with_ev[pick % len(with_ev)]
    a = facts.attestations[i]
    ev = () if how == "without" else tuple(
        {**e, "hash_ok": False, **({"size": 0} if how == "remove" else {})} for e in a.evidence)
    atts = list(facts.attestations)
    atts[i] = replace(a, evidence=ev)
    not_raised(facts, replace(facts, attestations=atts))


@SETTINGS
@given(facilities(), st.integers(1, 500))
def test_letting_time_pass_never_raises(facts: Facts, days: int) -> None:
    not_raised(facts, replace(facts, today=facts.today + timedelta(days=days)))


@SETTINGS
@given(facilities(), st.integers(0, 10_000))
def test_marking_an_examined_thing_untested_never_raises(facts: Facts, pick: int) -> None:
    if not facts.observations:
        return
    obs = list(facts.observations)
    del obs[pick % len(obs)]
    not_raised(facts, replace(facts, observations=obs))
