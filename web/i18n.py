"""Japanese first, English too: gettext catalogs (web/locale/<lang>/LC_MESSAGES/messages.po),
read with Babel at start-up (no compile step on the appliance), and local-time formatting."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel.messages.pofile import read_po

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
LANGUAGES = ("ja", "en")


@cache
def catalog(lang: str) -> dict[str, str]:
    path = LOCALE_DIR / lang / "LC_MESSAGES" / "messages.po"
    if not path.exists():
        return {}
    with path.open("rb") as f:
        po = read_po(f, locale=lang)
    return {str(m.id): str(m.string) for m in po if m.id and m.string and not m.fuzzy}


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
    return datetime.fromtimestamp(float(ts), zone).strftime(
        "%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")
