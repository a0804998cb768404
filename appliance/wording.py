"""The names of codes shown to people: verdicts, confidence, severities, measure ids. The words
themselves are in the gettext catalogs (appliance.i18n), Japanese first. The CLI, the PDF and
the dashboard use these so that one thing has one name: confidence is 確度 (高・中・低)
everywhere, a measure is written 3-③ in text (the plain 3-3 is only for URLs and JSON).
"""

from __future__ import annotations

from appliance.domain import SEVERITIES
from appliance.i18n import LANGUAGES, gettext, pgettext

# the English words (msgids) of the codes; their Japanese is in the catalog
_VERDICT_MSGID = {"pass": "pass", "fail": "fail", "warn": "warning", "unknown": "no data",
                  "not_applicable": "not applicable", "expired": "expired",
                  "evidence_invalid": "evidence invalid"}
_CIRCLED = "①②③④⑤⑥⑦⑧⑨⑩⑪⑫⑬⑭⑮⑯⑰⑱⑲⑳"


def verdict(v: str, lang: str = "ja") -> str:
    return pgettext("verdict", _VERDICT_MSGID[v], lang) if v in _VERDICT_MSGID else v


def confidence(level: str, lang: str = "ja") -> str:
    return pgettext("confidence", level, lang) if level in ("high", "medium", "low") else level


def severity(s: str, lang: str = "ja") -> str:
    return gettext(s, lang) if s in SEVERITIES else s


# the same words as tables, for callers that index them
VERDICT = {lang: {v: verdict(v, lang) for v in _VERDICT_MSGID} for lang in LANGUAGES}
CONFIDENCE_WORD = {lang: gettext("confidence", lang) for lang in LANGUAGES}
CONFIDENCE = {lang: {c: confidence(c, lang) for c in ("high", "medium", "low")}
              for lang in LANGUAGES}
SEVERITY = {lang: {s: severity(s, lang) for s in SEVERITIES} for lang in LANGUAGES}


def confidence_level(value: float) -> str:
    """The same thresholds as appliance.compliance's estimate."""
    return "high" if value >= 0.9 else "medium" if value >= 0.7 else "low"


def measure_label(mid: str) -> str:
    """'3-3' → '3-③' (the guideline's own notation); anything else unchanged."""
    head, sep, tail = str(mid).partition("-")
    if sep and tail.isdigit() and 1 <= int(tail) <= len(_CIRCLED):
        return f"{head}-{_CIRCLED[int(tail) - 1]}"
    return str(mid)
