"""The guideline as data: categories and measures, loaded once from a JSON file in appliance/data.

A framework is a data file; another framework (the 2022 successor, the 総務省 Wi-Fi checklist) is
added by dropping a file of the same shape beside it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from appliance.i18n import N_, gettext

DEFAULT_FRAMEWORK = "jta-siotp-2021"
UNIDENTIFIED = N_("the source does not say what this measure is")
LEVELS = ("basic", "advanced", "unknown")
INSPECTIONS = ("audit", "vulnerability")
MONITOR_CLASSES = ("auto", "assisted", "attest")


class CatalogError(Exception):
    pass


@dataclass(frozen=True, slots=True)
class Category:
    id: int
    title_ja: str
    title_en: str
    inspection: str


@dataclass(frozen=True, slots=True)
class Measure:
    id: str
    category: int
    number: str
    title_ja: str
    title_en: str
    summary_ja: str
    level: str
    inspection: str
    monitor: str
    checks: tuple[dict[str, Any], ...] = ()
    remediation_ja: str = ""
    remediation_en: str = ""
    not_applicable: dict[str, Any] | None = None  # may be N/A, and the condition to check
    unidentified: bool = False  # the source does not say what it is: never attested, N/A
    unidentified_ja: str = ""
    unidentified_en: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "measure": self.id,
            "category": self.category,
            "number": self.number,
            "title_ja": self.title_ja,
            "title_en": self.title_en,
            "summary_ja": self.summary_ja,
            "level": self.level,
            "inspection": self.inspection,
            "monitor": self.monitor,
            "checks": [{"check": c["id"], "kind": "assisted" if c.get("assisted") else c["kind"],
                        "title_ja": c["title_ja"], "title_en": c["title_en"]}
                       for c in self.checks],
        }


@dataclass(frozen=True, slots=True)
class Catalog:
    framework_id: str
    title_ja: str
    title_en: str
    categories: tuple[Category, ...]
    measures: tuple[Measure, ...]
    scheme: dict[str, Any]

    def measure(self, measure_id: str) -> Measure:
        for m in self.measures:
            if m.id == measure_id:
                return m
        raise KeyError(measure_id)

    def ids(self) -> frozenset[str]:
        return frozenset(m.id for m in self.measures)


def parse_catalog(data: dict[str, Any]) -> Catalog:
    try:
        fw = data["framework"]
        framework = (fw["id"], fw["title_ja"], fw["title_en"])
        scheme = _scheme(data["scheme"])
        axes = {a["id"] for a in scheme["axes"]}
        cats = tuple(
            Category(int(c["id"]), c["title_ja"], c["title_en"], c["inspection"])
            for c in data["categories"]
        )
        for c in cats:
            if c.inspection not in axes:
                raise CatalogError(f"category {c.id}: inspection {c.inspection!r} is not an "
                                   f"axis of the scheme ({', '.join(sorted(axes))})")
        by_cat = {c.id: c for c in cats}
        measures = []
        for m in data["measures"]:
            cat_id = int(str(m["id"]).split("-")[0])
            if cat_id not in by_cat:
                raise CatalogError(f"measure {m['id']}: no category {cat_id}")
            if m["level"] not in LEVELS or m["monitor"] not in MONITOR_CLASSES:
                raise CatalogError(f"measure {m['id']}: bad level or monitor class")
            measures.append(
                Measure(
                    id=m["id"],
                    category=cat_id,
                    number=m["number"],
                    title_ja=m["title_ja"],
                    title_en=m["title_en"],
                    summary_ja=m.get("summary_ja", ""),
                    level=m["level"],
                    inspection=by_cat[cat_id].inspection,
                    monitor=m["monitor"],
                    checks=tuple(_check(m["id"], c, scheme) for c in m.get("checks", ())),
                    remediation_ja=m.get("remediation_ja", ""),
                    remediation_en=m.get("remediation_en", ""),
                    not_applicable=m.get("not_applicable"),
                    unidentified=bool(m.get("unidentified", m["level"] == "unknown")),
                    unidentified_ja=m.get("unidentified_ja", gettext(UNIDENTIFIED, "ja")),
                    unidentified_en=m.get("unidentified_en", gettext(UNIDENTIFIED, "en")),
                )
            )
    except (KeyError, TypeError, ValueError) as exc:
        raise CatalogError(f"malformed catalog: {exc!r}") from exc
    ids = [m.id for m in measures]
    if len(ids) != len(set(ids)):
        raise CatalogError("duplicate measure ids")
    if scheme["findings_filed_under_own_ids"]:
        for ms in measures:
            for chk in ms.checks:
                chk.setdefault("filed_under", [ms.id])
    return Catalog(*framework, cats, tuple(measures), scheme)


CHECK_KINDS = ("auto", "attest")
GRADE_CONDITIONS = frozenset((
    "criticals_min", "basic_pass_share_below", "no_evidence", "key_fail", "basic_fail",
    "basic_all_pass", "advanced_all_pass", "advanced_fail"))


def _scheme(s: dict[str, Any]) -> dict[str, Any]:
    """The grading scheme with its defaults; every rule a framework may state is checked here,
    so a typo is a load error rather than a silently different grade."""
    out = dict(s)
    out.setdefault("fresh_days", 7)
    out.setdefault("confidence", {"high": 0.9, "medium": 0.7})
    out.setdefault("critical", {"severities": ["critical"]})
    out.setdefault("findings_filed_under_own_ids", False)
    v = dict(out.get("validity", {}))
    v.setdefault("default_days", 365)
    v.setdefault("max_days", 400)
    out["validity"] = v
    if not out.get("axes") or not out.get("levels") or not out.get("caps"):
        raise CatalogError("scheme needs axes, levels and caps")
    levels = {int(lv["level"]) for lv in out["levels"]}
    for ax in out["axes"]:
        if not ax.get("grades"):
            raise CatalogError(f"axis {ax.get('id')!r} has no grade rules")
        caps = out["caps"].get(ax["id"])
        if caps is None:
            raise CatalogError(f"axis {ax['id']} has no caps")
        for g in ax["grades"]:
            if g["grade"] not in caps:
                raise CatalogError(f"axis {ax['id']}: grade {g['grade']} has no cap")
            for c in [*g.get("any", ()), *g.get("all", ())]:
                bad = set(c) - GRADE_CONDITIONS
                if bad:
                    raise CatalogError(f"axis {ax['id']}: unknown grade condition "
                                       f"{', '.join(sorted(bad))}")
        for g, cap in caps.items():
            if int(cap) not in levels:
                raise CatalogError(f"axis {ax['id']}: grade {g} caps at {cap}, no such level")
    return out


def _check(measure: str, c: dict[str, Any], scheme: dict[str, Any]) -> dict[str, Any]:
    if c.get("kind") not in CHECK_KINDS or not c.get("id"):
        raise CatalogError(f"measure {measure}: check {c.get('id')!r} has no valid kind")
    c = dict(c)
    if c["kind"] == "attest":
        c.setdefault("valid_days", scheme["validity"]["default_days"])
        c.setdefault("max_valid_days", scheme["validity"]["max_days"])
        if not 1 <= int(c["valid_days"]) <= int(c["max_valid_days"]):
            raise CatalogError(f"measure {measure}: attest check {c['id']} valid_days must be "
                               f"1..{c['max_valid_days']}")
    return c


def frameworks() -> list[str]:
    """Every framework shipped as data (appliance/data/*.json)."""
    root = resources.files("appliance").joinpath("data")
    return sorted(p.name[:-5] for p in root.iterdir() if p.name.endswith(".json"))


@cache
def load_catalog(framework: str = DEFAULT_FRAMEWORK) -> Catalog:
    """A shipped framework by id, or a framework file by path (a .json of the same shape)."""
    try:
        if framework.endswith(".json"):
            text = Path(framework).read_text("utf-8")
        else:
            if framework not in frameworks():
                raise CatalogError(f"no framework {framework!r} (installed: "
                                   f"{', '.join(frameworks())}; or give a .json file)")
            text = resources.files("appliance").joinpath(
                "data", f"{framework}.json").read_text("utf-8")
        return parse_catalog(json.loads(text))
    except (OSError, ValueError) as exc:
        raise CatalogError(f"framework {framework}: {exc}") from exc


def catalog_for(config: Any) -> Catalog:
    return load_catalog(config.facility.framework)
