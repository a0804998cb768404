"""One home for words: every string a person reads comes from the gettext catalogs
appliance/locale/<lang>/LC_MESSAGES/officeguard.po, Japanese first.

msgids are English (so the English catalog may leave a msgstr empty: the msgid is the English
text); the Japanese catalog translates every one of them (tests/test_i18n.py checks that each
msgid used in code and templates is in both catalogs). Placeholders are str.format fields,
`{ip}`, filled after translation. The catalogs are read at start-up by a small reader of the
.po format: no compile step on the appliance and none of Babel's memory in its processes
(Babel, a test dependency, writes them: `python -m appliance.i18n sync`).

The core, the agent, the dashboard and the printed report all translate through here:
`gettext(msgid, lang, **fields)`, `both(msgid, **fields)` for the rows that keep both
languages (findings, outbox messages), and `translator(lang)` as Jinja's `_`.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from functools import cache
from pathlib import Path

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
DOMAIN = "officeguard"
LANGUAGES = ("ja", "en")
DEFAULT = "ja"
CONTEXT_SEP = "\x04"


def parse_po(text: str) -> dict[str, str]:
    """msgid → msgstr of a gettext .po file; fuzzy and untranslated entries are left out. An
    entry with a msgctxt is keyed `context + "\x04" + msgid`, as GNU gettext keys it."""
    out: dict[str, str] = {}
    entry: dict[str, list[str]] = {}
    field = ""
    fuzzy = pending_fuzzy = False

    def flush() -> None:
        mid, mstr = "".join(entry.get("msgid", [])), "".join(entry.get("msgstr", []))
        if "msgctxt" in entry:
            mid = "".join(entry["msgctxt"]) + CONTEXT_SEP + mid
        if mid and mstr and not fuzzy:
            out[mid] = mstr

    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("#,"):
            pending_fuzzy = "fuzzy" in line
            continue
        if not line or line.startswith("#"):
            continue
        for key in ("msgctxt", "msgid", "msgstr"):
            if line.startswith(key + " "):
                if key == "msgctxt" or (key == "msgid" and "msgctxt" not in entry) or (
                        key == "msgid" and "msgid" in entry):
                    flush()
                    entry, fuzzy, pending_fuzzy = {}, pending_fuzzy, False
                field = key
                entry[key] = []
                line = line[len(key) + 1:].strip()
        if field and line.startswith('"') and line.endswith('"') and len(line) >= 2:
            inner = line[1:-1]
            # most lines hold no escape and no inner quote: taken as they are (parsing each
            # as a Python literal cost every process 25 ms at its first message)
            value = inner if "\\" not in inner and '"' not in inner else ast.literal_eval(line)
            if isinstance(value, str):
                entry.setdefault(field, []).append(value)
    flush()
    return out


def po_path(lang: str) -> Path:
    return LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


@cache
def catalog(lang: str) -> dict[str, str]:
    path = po_path(lang)
    if not path.exists():
        return {}
    return parse_po(path.read_text(encoding="utf-8"))


def N_(msgid: str) -> str:  # noqa: N802 - the name gettext's tools know
    """Marks a msgid that is translated later, where it is used (tests/test_i18n.py finds the
    msgids of the code by these marks and by the literal first arguments of gettext/both)."""
    return msgid


def gettext(msgid: str, lang: str = DEFAULT, /, **fields: object) -> str:
    """msgid in `lang` (the msgid itself when untranslated), with {fields} filled in."""
    text = catalog(lang if lang in LANGUAGES else DEFAULT).get(msgid, msgid)
    return text.format(**fields) if fields else text


def pgettext(context: str, msgid: str, lang: str = DEFAULT, /, **fields: object) -> str:
    """A short word whose meaning depends on where it stands ("high": a severity 重要, a
    confidence 高): msgid in `context`, the msgid itself when untranslated."""
    text = catalog(lang if lang in LANGUAGES else DEFAULT).get(context + CONTEXT_SEP + msgid,
                                                               msgid)
    return text.format(**fields) if fields else text


def both(msgid: str, /, **fields: object) -> tuple[str, str]:
    """(Japanese, English) of one message: for rows that keep both languages."""
    return gettext(msgid, "ja", **fields), gettext(msgid, "en", **fields)


def translator(lang: str) -> Callable[..., str]:
    """The `_` of templates and pages: `_("Findings")`, `_("{n} more", n=3)`."""
    table = catalog(lang if lang in LANGUAGES else DEFAULT)

    def _(msgid: str, /, **fields: object) -> str:
        text = table.get(msgid, msgid)
        return text.format(**fields) if fields else text

    return _


def sync() -> None:
    """Maintainers: after adding msgids to the Japanese catalog, give the English one the same
    msgids (keeping its translations) and write both sorted, as Babel writes them."""
    from babel.messages.catalog import Catalog
    from babel.messages.pofile import read_po, write_po

    with po_path("ja").open("rb") as f:
        ja = read_po(f, locale="ja")
    with po_path("en").open("rb") as f:
        en_old = {(str(m.id), m.context): str(m.string) for m in read_po(f, locale="en")
                  if m.id}
    en = Catalog(locale="en", project="OfficeGuard", version="0.2", charset="utf-8",
                 creation_date=ja.creation_date)
    for m in ja:
        if m.id:
            en.add(m.id, en_old.get((str(m.id), m.context), ""), context=m.context)
    for lang, cat in (("ja", ja), ("en", en)):
        with po_path(lang).open("wb") as f:
            write_po(f, cat, width=100, sort_output=True)


if __name__ == "__main__":
    sync()
