"""Japanese first, English too: gettext catalogs (web/locale/<lang>/LC_MESSAGES/messages.po),
read at start-up by a small reader of the .po format (no compile step on the appliance, and
none of Babel's memory in the web process; Babel writes the catalogs), and local-time
formatting."""

from __future__ import annotations

import ast
from collections.abc import Callable
from datetime import datetime
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
LANGUAGES = ("ja", "en")


def parse_po(text: str) -> dict[str, str]:
    """msgid → msgstr of a gettext .po file; fuzzy and untranslated entries are left out."""
    out: dict[str, str] = {}
    entry: dict[str, list[str]] = {}
    field = ""
    fuzzy = pending_fuzzy = False

    def flush() -> None:
        mid, mstr = "".join(entry.get("msgid", [])), "".join(entry.get("msgstr", []))
        if mid and mstr and not fuzzy:
            out[mid] = mstr

    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("#,"):
            pending_fuzzy = "fuzzy" in line
            continue
        if not line or line.startswith("#"):
            continue
        for key in ("msgid", "msgstr"):
            if line.startswith(key + " "):
                if key == "msgid":
                    flush()
                    entry, fuzzy, pending_fuzzy = {}, pending_fuzzy, False
                field = key
                entry[key] = []
                line = line[len(key) + 1:].strip()
        if field and line.startswith('"') and line.endswith('"'):
            value = ast.literal_eval(line)
            if isinstance(value, str):
                entry.setdefault(field, []).append(value)
    flush()
    return out


@cache
def catalog(lang: str) -> dict[str, str]:
    path = LOCALE_DIR / lang / "LC_MESSAGES" / "messages.po"
    if not path.exists():
        return {}
    return parse_po(path.read_text(encoding="utf-8"))


def translator(lang: str) -> Callable[[str], str]:
    table = catalog(lang if lang in LANGUAGES else "ja")

    def _(msgid: str) -> str:
        return table.get(msgid, msgid)

    return _


def pick(lang_cookie: str | None, accept: str | None, default: str) -> str:
    if lang_cookie in LANGUAGES:
        return str(lang_cookie)
    for part in (accept or "").split(","):
        tag = part.split(";")[0].strip().lower()[:2]
        if tag in LANGUAGES:
            return tag
    return default


def local_time(ts: float | None, tz: str, seconds: bool = False) -> str:
    if ts is None:
        return "—"
    try:
        zone = ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    try:
        return datetime.fromtimestamp(float(ts), zone).strftime(
            "%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")
    except (OverflowError, OSError, ValueError, TypeError):
        return "(invalid time)"  # a bad row from an older version: shown, never a 500
