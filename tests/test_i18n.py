"""One home for words: every string a person reads comes from the gettext catalogs
(appliance/locale), Japanese first. The catalog reader agrees with Babel; every msgid the code and
the templates use is in both catalogs with a Japanese translation and the same placeholders;
no module keeps Japanese/English pairs of its own."""

from __future__ import annotations

import ast
import re
import string
from pathlib import Path

import pytest

from appliance import i18n, wording
from tests.conftest import ROOT

PACKAGES = ("appliance", "agent", "web")
TEMPLATE_DIRS = (ROOT / "web" / "templates", ROOT / "appliance" / "templates")
# the calls that take a msgid (first positional argument; pgettext: context, msgid)
CALLS = {"gettext", "both", "_", "N_"}


def _sources() -> list[Path]:
    return sorted(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py"))


def _name(func: ast.expr) -> str:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return ""


def used_msgids() -> set[str]:
    """Every literal msgid in code (gettext/both/pgettext/_ calls) and in templates (_("…"));
    a pgettext msgid as context + \\x04 + msgid."""
    out: set[str] = set()
    for path in _sources():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            name, args = _name(node.func), node.args
            lit = [a.value if isinstance(a, ast.Constant) and isinstance(a.value, str) else None
                   for a in args[:2]]
            if name in CALLS and lit[0] is not None:
                out.add(lit[0])
            elif name == "pgettext" and len(lit) == 2 and lit[0] and lit[1]:
                out.add(lit[0] + i18n.CONTEXT_SEP + lit[1])
    for folder in TEMPLATE_DIRS:
        text = "".join(p.read_text(encoding="utf-8") for p in folder.glob("*.html"))
        out |= set(re.findall(r'_\("([^"]+)"', text)) | set(re.findall(r"_\('([^']+)'", text))
    return out


def _fields(text: str) -> set[str]:
    return {f for _, f, _, _ in string.Formatter().parse(text) if f}


def test_po_reader_agrees_with_babel() -> None:
    from babel.messages.pofile import read_po

    for lang in i18n.LANGUAGES:
        path = i18n.po_path(lang)
        with path.open("rb") as f:
            ref = {(f"{m.context}{i18n.CONTEXT_SEP}" if m.context else "") + str(m.id):
                   str(m.string) for m in read_po(f, locale=lang)
                   if m.id and m.string and not m.fuzzy}
        assert i18n.parse_po(path.read_text(encoding="utf-8")) == ref
    text = ('#, fuzzy\nmsgid "a"\nmsgstr "b"\n\nmsgid ""\n"two "\n"lines\\n"\nmsgstr "x"\n"y"\n\n'
            'msgctxt "confidence"\nmsgid "high"\nmsgstr "高"\n\nmsgid "high"\nmsgstr "重要"\n')
    assert i18n.parse_po(text) == {"two lines\n": "xy", "confidence\x04high": "高",
                                   "high": "重要"}


def _all_ids(lang: str) -> set[str]:
    from babel.messages.pofile import read_po

    with i18n.po_path(lang).open("rb") as f:
        return {(f"{m.context}{i18n.CONTEXT_SEP}" if m.context else "") + str(m.id)
                for m in read_po(f, locale=lang) if m.id}


def test_every_msgid_in_use_is_in_both_catalogs_and_translated_to_japanese() -> None:
    used = used_msgids()
    assert len(used) > 250  # the walk found the code's and the templates' words
    ja, ja_ids, en_ids = i18n.catalog("ja"), _all_ids("ja"), _all_ids("en")
    missing_ja = sorted(m for m in used if not ja.get(m, "").strip())
    assert not missing_ja, missing_ja
    assert ja_ids == en_ids, sorted(ja_ids ^ en_ids)  # `python -m appliance.i18n sync`
    for mid in used:  # a translation may leave a detail out, never ask for a field not given
        assert _fields(ja[mid]) <= _fields(mid), (mid, ja[mid])
        en = i18n.catalog("en").get(mid)
        assert en is None or _fields(en) <= _fields(mid), (mid, en)


JAPANESE = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uff01-\uff5e\u3000-\u303f]")
# Japanese that is not shown to people: text the probes look for in devices' answers
PATTERNS = {"agent/probe/website.py", "agent/probe/creds.py", "agent/probe/fingerprint.py"}


def _docstrings(tree: ast.AST) -> set[int]:
    return {id(n.body[0].value) for n in ast.walk(tree)
            if isinstance(n, ast.Module | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
            and n.body and isinstance(n.body[0], ast.Expr)}


def _literal_text(node: ast.expr) -> str:
    """The text a literal or an f-string writes itself (an f-string of fields only is none)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(str(v.value) for v in node.values if isinstance(v, ast.Constant))
    return ""


def test_no_module_keeps_words_of_its_own() -> None:
    """Japanese text in code (outside docstrings and comments) is a word that bypassed the
    catalog; so is a `*_ja`/`*_en` field or keyword given a literal."""
    found = []
    for path in _sources():
        rel = path.relative_to(ROOT).as_posix()
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docs = _docstrings(tree)
        for node in ast.walk(tree):
            if (rel not in PATTERNS and isinstance(node, ast.Constant)
                    and isinstance(node.value, str) and id(node) not in docs
                    and JAPANESE.search(node.value)):
                found.append(f"{rel}:{node.lineno} {node.value[:40]!r}")
            pairs: list[tuple[str, ast.expr]] = []
            if isinstance(node, ast.Call):
                pairs += [(k.arg or "", k.value) for k in node.keywords]
            if isinstance(node, ast.Dict):
                pairs += [(k.value, v) for k, v in zip(node.keys, node.values, strict=True)
                          if isinstance(k, ast.Constant) and isinstance(k.value, str)]
            for key, value in pairs:
                if key.endswith(("_ja", "_en")) and re.search(r"\w", _literal_text(value)):
                    found.append(f"{rel}:{node.lineno} {key}= a literal")
    assert not found, found


def test_the_words_of_codes_come_from_the_catalog() -> None:
    for v, word in wording.VERDICT["ja"].items():
        assert word == i18n.pgettext("verdict", wording._VERDICT_MSGID[v], "ja") != \
            wording._VERDICT_MSGID[v], v
    assert wording.VERDICT["en"]["warn"] == "warning"
    assert wording.confidence("high") == "高" and wording.severity("high") == "重要"
    assert wording.confidence("high", "en") == "high" == wording.severity("high", "en")
    from web import i18n as web_i18n

    for _key, msgid in web_i18n._REASONS:
        assert i18n.catalog("ja").get(msgid), msgid
    for key in web_i18n.EVIDENCE_KEYS:
        assert i18n.catalog("ja").get(key.replace("_", " ")), key
    for value in web_i18n.EVIDENCE_VALUES:
        assert i18n.catalog("ja").get(value), value


def test_gettext_fills_fields_after_translating() -> None:
    assert i18n.gettext("{n} more in {f}.", "ja", n=3, f="x.csv") == \
        "ほか 3 件は x.csv に記載しています。"
    assert i18n.gettext("{n} more in {f}.", "en", n=3, f="{y}") == "3 more in {y}."
    assert i18n.both("Findings") == ("検出事項", "Findings")
    assert i18n.gettext("no such words", "fr") == "no such words"


@pytest.mark.parametrize("lang", i18n.LANGUAGES)
def test_the_package_ships_the_catalogs(lang: str) -> None:
    import tomllib

    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    pkg = data["tool"]["setuptools"]["package-data"]["appliance"]
    assert "locale/*/LC_MESSAGES/*.po" in pkg and "templates/*.html" in pkg
    assert i18n.po_path(lang).is_file()
