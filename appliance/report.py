"""The printable report: HTML from the export document through the autoescaped Jinja template
appliance/templates/report.html (the dashboard's way: every value escaped, hidden characters
shown as markers), words from the gettext catalogs (appliance.i18n), PDF by WeasyPrint.
Japanese first; English when asked. Charts are inline SVG (no scripts, no network).

This module prepares the figures (rows, counts, chart geometry); the template writes the markup.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from appliance.display import display_safe
from appliance.domain import SEVERITIES_WORST_FIRST, SEVERITY_RANK
from appliance.i18n import gettext, pgettext, translator
from appliance.wording import confidence, confidence_level, measure_label, severity, verdict

TEMPLATES = Path(__file__).resolve().parent / "templates"
# the summary table orders its columns best to worst
VERDICTS = ("pass", "warn", "fail", "unknown", "expired", "evidence_invalid", "not_applicable")
CSS = """
@page { size: A4; margin: 14mm 12mm; @bottom-right { content: counter(page) " / " counter(pages);
  font-size: 8pt; } }
body { font-family: "IPAGothic", "IPAexGothic", "Noto Sans CJK JP", sans-serif; font-size: 9pt;
  color: #222; }
h1 { font-size: 16pt; margin: 0 0 3mm; } h2 { font-size: 12pt; border-bottom: 1px solid #999;
  margin-top: 6mm; page-break-after: avoid; } h3 { font-size: 10pt; margin: 4mm 0 1mm;
  page-break-after: avoid; }
table { border-collapse: collapse; width: 100%; margin: 2mm 0; }
th, td { border: 1px solid #bbb; padding: 1mm 1.5mm; text-align: left; vertical-align: top;
  overflow-wrap: anywhere; }
th { background: #eee; white-space: nowrap; word-break: keep-all; }
td.id, td.num, td.date, span.id { white-space: nowrap; overflow-wrap: normal; }
td.num { text-align: right; } td.key { font-size: 6.5pt; }
.big { font-size: 20pt; font-weight: bold; margin: 3mm 0 2mm; }
.disclaimer { border: 1px solid #c00; padding: 2mm; color: #900; }
.none { color: #666; }
.v-pass { color: #176b2c; } .v-fail, .v-expired { color: #b00; font-weight: bold; }
.v-warn { color: #a60; } .v-unknown { color: #666; }
.measure { page-break-inside: avoid; } .chart { page-break-before: always; }
"""


# The printed report stays readable (and light to render): long lists are summarised and cut,
# and the CSV and JSON files beside it carry every row.
MAX_ROWS_PER_MEASURE = 10
MAX_TABLE_ROWS = 100
SEV_COLOUR = {"critical": "#900", "high": "#d33", "medium": "#e90", "low": "#48c", "info": "#999"}
# codes the report shows in words (in Japanese; English shows the code as it is)
_JA_ONLY = {"fw": ("current", "outdated", "unsafe", "component", "unknown (no probe data)"),
            "pmf": ("none", "capable", "required"), "security": ("OPEN", "WEP", "WPA")}
_STATUSES = ("open", "acknowledged", "resolved", "reopened")


def _finalize(v: Any) -> Any:
    """Every printed value: None as nothing, hidden and control characters as ⟨U+XXXX⟩
    markers (markup made by the template itself is left alone)."""
    if v is None:
        return ""
    if isinstance(v, Markup):
        return v
    return display_safe(v)


@cache
def _env() -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES), auto_reload=False,
                      autoescape=select_autoescape(default=True, default_for_string=True),
                      trim_blocks=True, lstrip_blocks=True)
    env.finalize = _finalize
    return env


def _when(text: Any, tz: str) -> str:
    """An ISO time of the export document in the facility's zone, with the year."""
    if not text:
        return ""
    try:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00")).astimezone(
            ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M")
    except (ValueError, KeyError):
        return str(text)


def _bar_chart(daily: dict[str, dict[str, int]]) -> dict[str, Any] | None:
    """New findings per day as stacked bars: the geometry the template draws."""
    days = sorted(daily)
    if not days:
        return None
    top = max(sum(daily[d].values()) for d in days) or 1
    w, h, bw = 700, 180, max(4, min(30, 680 // len(days)))
    bars, labels = [], []
    for i, d in enumerate(days):
        y = float(h)
        x = 10 + i * (bw + 2)
        for s in SEVERITIES_WORST_FIRST:
            n = daily[d].get(s, 0)
            if not n:
                continue
            bh = n / top * (h - 10)
            y -= bh
            bars.append({"x": x, "y": f"{y:.1f}", "w": bw, "h": f"{bh:.1f}",
                         "fill": SEV_COLOUR[s]})
        if i % max(1, len(days) // 6) == 0:  # a full date (with the year) every few bars
            labels.append({"x": x, "text": d})
    return {"width": w, "height": h + 30, "base": h, "bars": bars, "labels": labels,
            "top": top}


def _survey_chart(surveys: list[dict[str, Any]]) -> dict[str, Any] | None:
    rows = [(s["label"], b) for s in surveys for b in s["bssids"]
            if b["rssi_mean_dbm"] is not None]
    if not rows:
        return None
    out = []
    for i, (label, b) in enumerate(rows):
        val = b["rssi_mean_dbm"]
        length = max(0.0, (val + 100) / 100 * 420)
        threshold = next(s["threshold_dbm"] for s in surveys if s["label"] == label)
        out.append({"y": i * 18, "label": label, "ssid": b["ssid"], "value": val,
                    "length": f"{length:.0f}", "end": f"{265 + length:.0f}",
                    "fill": "#d33" if val > threshold else "#48c"})
    return {"width": 700, "height": len(rows) * 18 + 20, "rows": out}


def _measure(m: dict[str, Any], fs: list[dict[str, Any]], lang: str) -> dict[str, Any]:
    checks = []
    for ch in m["checks"]:
        checks.append({
            "title": ch["title_ja" if lang == "ja" else "title_en"], "state": ch["state"],
            "why": ch.get("reason_ja") if lang == "ja" else ch.get("reason"),
            "evidence": ", ".join(f"{x['name']} (sha256 {x['sha256'][:12]}…)"
                                  for x in ch.get("evidence", [])),
            "seen": "; ".join(f"{x['what']} ({x['at']})" for x in ch.get("examined", [])[:5])})
    rules: dict[str, list[dict[str, Any]]] = {}
    for f in fs:
        rules.setdefault(f["rule"], []).append(f)
    rule_rows = []
    for rule, group in sorted(rules.items()):
        ttrs = [f["hours_to_resolve"] for f in group if f["hours_to_resolve"] is not None]
        rule_rows.append({"rule": rule, "n": len(group),
                          "opened": sum(f["opened_in_period"] for f in group),
                          "closed": sum(f["closed_in_period"] for f in group),
                          "ttr": round(sum(ttrs) / len(ttrs), 1) if ttrs else ""})
    # the most severe first, the most recent first within a severity
    shown = sorted(fs, key=lambda f: (SEVERITY_RANK.get(f["severity"], 0), f["last_seen"]),
                   reverse=True)[:MAX_ROWS_PER_MEASURE]
    return {"label": measure_label(m["measure"]), "title": m["title_ja" if lang == "ja"
                                                            else "title_en"],
            "level": pgettext("level", m["level"], lang) if m["level"] == "unknown"
            else gettext(m["level"], lang), "verdict": m["verdict"], "checks": checks,
            "rules": rule_rows, "findings": [{
                "title": f["title_ja" if lang == "ja" else "title_en"],
                "subject": f["subject"], "severity": severity(f["severity"], lang),
                "status": gettext(f["status"], lang) if f["status"] in _STATUSES
                else f["status"], "opened": f["opened_in_period"],
                "closed": f["closed_in_period"], "ttr": f["hours_to_resolve"]} for f in shown],
            "more": len(fs) - len(shown),
            "remedy": m["remediation_ja"] if lang == "ja" else m["remediation_en"]}


def render_html(doc: dict[str, Any], lang: str = "ja") -> str:
    lang = lang if lang in ("ja", "en") else "ja"
    c = doc["compliance"]
    est = c["estimate"]
    tz = str(doc.get("timezone") or "Asia/Tokyo")

    def word(kind: str, code: Any) -> Any:
        """A code of the document in words, where the catalog has them."""
        if lang == "ja" and code in _JA_ONLY[kind]:
            return gettext(code, lang)
        return code

    def when(text: Any) -> str:
        return _when(text, tz)

    by_measure: dict[str, list[dict[str, Any]]] = {}
    for f in doc["findings"]:
        by_measure.setdefault(f["measure"], []).append(f)
    categories = []
    for cat in sorted({m["category"] for m in c["measures"]}):
        ms = [m for m in c["measures"] if m["category"] == cat]
        categories.append({"id": cat, "n": len(ms), "counts": [
            sum(1 for m in ms if m["verdict"] == v) for v in VERDICTS]})
    level = est.get("confidence_level") or confidence_level(float(est["confidence"]))
    suffix = "ja" if lang == "ja" else "en"
    return _env().get_template("report.html").render(
        _=translator(lang), lang=lang, css=Markup(CSS), doc=doc, c=c,  # noqa: S704 - our CSS
        label=est[f"label_{suffix}"], disclaimer=est[f"disclaimer_{suffix}"],
        report_title=c.get(f"report_title_{suffix}", ""),
        framework_title=doc.get(f"framework_title_{suffix}") or doc.get(
            "framework_title_ja", ""),
        axes=[(a[f"title_{suffix}"], c["grades"][a["id"]]) for a in c.get("axes", ())],
        confidence=confidence(level, lang),
        verdicts=[(v, verdict(v, lang)) for v in VERDICTS], categories=categories,
        measures=[_measure(m, by_measure.get(m["measure"], []), lang) for m in c["measures"]],
        verdict=lambda v: verdict(v, lang), word=word, when=when, mid=measure_label,
        max_rows=MAX_TABLE_ROWS, bar_chart=_bar_chart(doc["findings_per_day"]),
        survey_chart=_survey_chart(doc["surveys"]), sevs=[
            (s, SEV_COLOUR[s], severity(s, lang)) for s in SEVERITIES_WORST_FIRST],
        privacy_note=doc["privacy"][f"note_{suffix}"])


def render_pdf(html: str, path: Path) -> None:
    import logging

    # before the import: importing WeasyPrint parses its own style sheets and logs each step
    for name in ("weasyprint", "weasyprint.progress", "fontTools"):
        logging.getLogger(name).setLevel(logging.ERROR)
    from weasyprint import HTML

    # base_url points nowhere: the report has no external resources, and fetching is refused
    HTML(string=html, base_url="about:blank", url_fetcher=_no_fetch).write_pdf(path)


def _no_fetch(url: str, *_a: Any, **_k: Any) -> dict[str, Any]:
    raise ValueError(f"the report does not load external resources ({url[:40]})")
