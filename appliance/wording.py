"""The words shown to people, in one place: verdicts, confidence, severities, measure ids.

Japanese first. The CLI, the PDF and the dashboard use these so that one thing has one name:
confidence is 確度 (高・中・低) everywhere, a measure is written 3-③ in text (the plain 3-3 is
only for URLs and JSON).
"""

from __future__ import annotations

VERDICT = {
    "ja": {"pass": "適合", "fail": "不適合", "warn": "要注意", "unknown": "データなし",
           "not_applicable": "対象外", "expired": "期限切れ", "evidence_invalid": "証跡無効"},
    "en": {"pass": "pass", "fail": "fail", "warn": "warning", "unknown": "no data",
           "not_applicable": "not applicable", "expired": "expired",
           "evidence_invalid": "evidence invalid"},
}
CONFIDENCE_WORD = {"ja": "確度", "en": "confidence"}
CONFIDENCE = {
    "ja": {"high": "高", "medium": "中", "low": "低"},
    "en": {"high": "high", "medium": "medium", "low": "low"},
}
SEVERITY = {
    "ja": {"critical": "緊急", "high": "重要", "medium": "警告", "low": "注意", "info": "情報"},
    "en": {"critical": "critical", "high": "high", "medium": "medium", "low": "low",
           "info": "info"},
}
_CIRCLED = "①②③④⑤⑥⑦⑧⑨⑩⑪⑫⑬⑭⑮⑯⑰⑱⑲⑳"


def verdict(v: str, lang: str = "ja") -> str:
    return VERDICT.get(lang, VERDICT["ja"]).get(v, v)


def confidence(level: str, lang: str = "ja") -> str:
    return CONFIDENCE.get(lang, CONFIDENCE["ja"]).get(level, level)


def confidence_level(value: float) -> str:
    """The same thresholds as appliance.compliance's estimate."""
    return "high" if value >= 0.9 else "medium" if value >= 0.7 else "low"


def severity(s: str, lang: str = "ja") -> str:
    return SEVERITY.get(lang, SEVERITY["ja"]).get(s, s)


def measure_label(mid: str) -> str:
    """'3-3' → '3-③' (the guideline's own notation); anything else unchanged."""
    head, sep, tail = str(mid).partition("-")
    if sep and tail.isdigit() and 1 <= int(tail) <= len(_CIRCLED):
        return f"{head}-{_CIRCLED[int(tail) - 1]}"
    return str(mid)
