"""Firmware currency and end of support: the catalog, version comparison, JVN advisories. Pure,
apart from `load_catalog`, which reads the packaged catalog or the manager's newer copy.

Catalog entries match a device (vendor + model pattern) or an embedded product that a banner
names (lighttpd, OpenSSH, ...). A newer catalog dropped into `<data_dir>/firmware-catalog.json`
(`officeguard firmware import`) wins over the packaged one, so data updates need no release.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET  # noqa: N817  (only parses feeds the manager chose)
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

PACKAGED = Path(__file__).resolve().parent.parent.parent / "appliance" / "data" / \
    "firmware-catalog.json"
_PRE = ("alpha", "beta", "rc", "pre", "dev")


class CatalogError(ValueError):
    """A catalog or feed that cannot be used; the message says where."""


def version_key(v: str) -> tuple[tuple[int, int | str], ...]:
    """Comparable form of vendor version strings: 'Rev.14.01.38', 'V1.2.3 build 20200101',
    '9.2p1', '1.0rc2'. Numbers compare as numbers; a pre-release tag sorts before the release."""
    s = v.strip().lower()
    s = re.sub(r"^(?:rev\.?|ver\.?|version|v)\s*", "", s)
    out: list[tuple[int, int | str]] = []
    for tok in re.findall(r"\d+|[a-z]+", s):
        if tok.isdigit():
            out.append((2, int(tok)))
        elif tok in _PRE:
            out.append((0, tok))
        elif tok in ("build", "r", "p", "patch", "sp"):
            out.append((1, 0))  # a marker that continues the number
        else:
            out.append((1, tok))
    return tuple(out)


def compare(a: str, b: str) -> int:
    """-1, 0 or 1 as version a is older than, equal to or newer than b."""
    ka, kb = version_key(a), version_key(b)
    for i in range(max(len(ka), len(kb))):
        x = ka[i] if i < len(ka) else None
        y = kb[i] if i < len(kb) else None
        # a missing token is 0 beside a number and "nothing" beside a word or pre-release tag
        if x is None:
            x = (2, 0) if y and y[0] == 2 else (1, 0)
        if y is None:
            y = (2, 0) if x[0] == 2 else (1, 0)
        if x == y:
            continue
        if x[0] != y[0]:
            return -1 if x[0] < y[0] else 1
        if isinstance(x[1], int) and isinstance(y[1], int):
            return -1 if x[1] < y[1] else 1
        return -1 if str(x[1]) < str(y[1]) else 1
    return 0


@dataclass(frozen=True, slots=True)
class Entry:
    id: str
    vendor: str
    model: str  # a regular expression over the device model, or the product a banner names
    kind: str  # device | software
    latest: str
    min_safe: str
    end_of_support: str  # ISO date or ""
    url: str
    note: str


def parse_catalog(doc: Any) -> tuple[str, list[Entry]]:
    if not isinstance(doc, dict) or not isinstance(doc.get("entries"), list):
        raise CatalogError("a catalog is an object with 'as_of' and a list 'entries'")
    out = []
    for i, e in enumerate(doc["entries"]):
        try:
            entry = Entry(str(e["id"]), str(e.get("vendor", "")), str(e["model"]),
                          str(e.get("kind", "device")), str(e.get("latest", "")),
                          str(e.get("min_safe", "")), str(e.get("end_of_support", "")),
                          str(e.get("url", "")), str(e.get("note", "")))
            re.compile(entry.model, re.I)
            if entry.end_of_support:
                date.fromisoformat(entry.end_of_support)
        except (KeyError, TypeError, re.error, ValueError) as exc:
            raise CatalogError(f"entries[{i}]: {exc}") from exc
        out.append(entry)
    return str(doc.get("as_of", "")), out


def load_catalog(data_dir: Path) -> tuple[str, list[Entry]]:
    override = data_dir / "firmware-catalog.json"
    path = override if override.exists() else PACKAGED
    try:
        return parse_catalog(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, json.JSONDecodeError) as exc:
        raise CatalogError(f"{path}: {exc}") from exc


def _norm(s: str) -> str:
    return re.sub(r"[^a-z0-9]", "", s.lower())


def match(entries: list[Entry], vendor: str, model: str, kind: str = "device") -> Entry | None:
    for e in entries:
        if e.kind != kind:
            continue
        if kind == "device" and e.vendor and _norm(e.vendor) not in _norm(vendor + model):
            continue
        if model and re.search(e.model, model, re.I):
            return e
    return None


def assess(entry: Entry, version: str, today: date) -> dict[str, Any]:
    """Verdict for one installed version: current | outdated | unsafe, plus end of support."""
    out: dict[str, Any] = {"catalog_id": entry.id, "installed": version, "latest": entry.latest,
                           "min_safe": entry.min_safe, "end_of_support": entry.end_of_support,
                           "url": entry.url}
    eol = bool(entry.end_of_support) and date.fromisoformat(entry.end_of_support) <= today
    if not version:
        out["status"] = "unknown"
    elif entry.min_safe and compare(version, entry.min_safe) < 0:
        out["status"] = "unsafe"
    elif entry.latest and compare(version, entry.latest) < 0:
        out["status"] = "outdated"
    else:
        out["status"] = "current"
    out["eol"] = eol
    return out


# -- JVN iPedia / MyJVN advisories ------------------------------------------------------------
NS = {"rss": "http://purl.org/rss/1.0/", "sec": "http://jvn.jp/rss/mod_sec/3.0/",
      "dc": "http://purl.org/dc/elements/1.1/",
      "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#"}


@dataclass(frozen=True, slots=True)
class Advisory:
    id: str
    title: str
    url: str
    published: str
    cvss: float | None
    severity: str
    products: tuple[tuple[str, str, str], ...]  # (vendor, product, cpe)


def parse_jvn(xml: bytes) -> list[Advisory]:
    """MyJVN getVulnOverviewList (hnd) / JVNDB RSS → advisories."""
    if b"<!DOCTYPE" in xml[:2048].upper() or b"<!ENTITY" in xml[:4096].upper():
        raise CatalogError("refusing a feed with a DOCTYPE or entities")
    try:
        root = ET.fromstring(xml)  # noqa: S314  (no DTDs, checked above)
    except ET.ParseError as exc:
        raise CatalogError(f"not a JVN feed: {exc}") from exc
    out = []
    for item in root.findall("rss:item", NS):
        ident = (item.findtext("sec:identifier", "", NS) or "").strip()
        if not ident:
            continue
        cv = item.find("sec:cvss", NS)
        score = None
        if cv is not None and cv.get("score"):
            try:
                score = float(cv.get("score", ""))
            except ValueError:
                score = None
        prods = tuple((c.get("vendor", ""), c.get("product", ""), (c.text or "").strip())
                      for c in item.findall("sec:cpe", NS))
        out.append(Advisory(ident, (item.findtext("rss:title", "", NS) or "").strip(),
                            (item.findtext("rss:link", "", NS) or "").strip(),
                            (item.findtext("dc:date", "", NS) or "").strip(),
                            score, cv.get("severity", "") if cv is not None else "", prods))
    if not out and root.find("rss:channel", NS) is None:
        raise CatalogError("not a JVN feed: no channel and no items")
    return out


def advisories_for(advisories: list[dict[str, Any]], vendor: str, product: str
                   ) -> list[dict[str, Any]]:
    """Advisories whose CPE vendor and product both appear in the device's vendor/product."""
    hay = _norm(vendor + " " + product)
    if not hay:
        return []
    hits = []
    for a in advisories:
        for v, p, cpe in a["products"]:
            parts = cpe.split(":")
            cv = _norm(parts[2]) if len(parts) > 3 else _norm(v)
            cp = _norm(parts[3]) if len(parts) > 3 else _norm(p)
            if cv and cp and cv in hay and cp in _norm(product):
                hits.append(a)
                break
    return hits
