"""End of support as data: a snapshot in the shape of endoflife.date (product → release cycles
with release, end of active support `eoas`, end of security support `eol`, extended support
`eoes`), and the verdict for one identified operating system. Pure, apart from `load`.

The packaged snapshot is `appliance/data/eol.json`; `officeguard catalog update` installs a newer
verified copy as `<data_dir>/eol.json`, which then wins. Every verdict carries the data's date.

Windows cycles carry the edition in their name: `11-23h2-w` (Home, Pro, Pro Education, Pro for
Workstations), `11-23h2-e` (Enterprise, Education, IoT Enterprise), `-lts` for LTSC.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

PACKAGED = Path(__file__).resolve().parent / "data" / "eol.json"
FILENAME = "eol.json"
SCHEMA = "officeguard-eol/1"
WARN_DAYS = 90
# extended support that every installation gets without paying or enrolling: Debian LTS ships
# its security updates from the ordinary archive, so its end (eoes) is the release's real end.
FREE_EXTENDED = {"debian": "Debian LTS"}
EDITION_SUFFIX = {"home": "w", "pro": "w", "pro-education": "w", "workstations": "w",
                  "enterprise": "e", "education": "e", "iot-enterprise": "e",
                  "ltsc": "e-lts", "iot-ltsc": "iot-lts"}
EDITIONS = tuple(EDITION_SUFFIX)


class EolError(ValueError):
    """A catalog that cannot be used; the message says where."""


@dataclass(frozen=True, slots=True)
class Release:
    product: str
    cycle: str
    label: str
    eol: str  # ISO date, "" = not announced (still supported); "ended" = ended, date unknown
    eoas: str
    eoes: str  # end of extended (paid) support, e.g. Windows 10 ESU
    lts: bool
    latest: str


@dataclass(frozen=True, slots=True)
class Catalog:
    as_of: str
    source: str
    releases: dict[str, list[Release]]

    def cycles(self, product: str) -> list[Release]:
        return self.releases.get(product, [])


def _datefield(v: Any, where: str) -> str:
    if v is None or v is False:
        return ""
    if v is True:
        return "ended"
    try:
        return date.fromisoformat(str(v)).isoformat()
    except ValueError as exc:
        raise EolError(f"{where}: not a date: {v!r}") from exc


def parse(doc: Any) -> Catalog:
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
        raise EolError(f"not an end-of-support catalog (schema must be {SCHEMA!r})")
    try:
        as_of = date.fromisoformat(str(doc.get("as_of", ""))).isoformat()
    except ValueError as exc:
        raise EolError("as_of must be the ISO date of the data") from exc
    products = doc.get("products")
    if not isinstance(products, dict) or not products:
        raise EolError("'products' must be a non-empty object")
    out: dict[str, list[Release]] = {}
    for name, p in products.items():
        rels = p.get("releases") if isinstance(p, dict) else None
        if not isinstance(rels, list):
            raise EolError(f"products.{name}: 'releases' must be a list")
        lst = []
        for i, r in enumerate(rels):
            where = f"products.{name}.releases[{i}]"
            if not isinstance(r, dict) or not r.get("cycle"):
                raise EolError(f"{where}: needs a 'cycle'")
            lst.append(Release(str(name), str(r["cycle"]), str(r.get("label") or r["cycle"]),
                               _datefield(r.get("eol"), where + ".eol"),
                               _datefield(r.get("eoas"), where + ".eoas"),
                               _datefield(r.get("eoes"), where + ".eoes"),
                               bool(r.get("lts")), str(r.get("latest", ""))))
        out[str(name)] = lst
    return Catalog(as_of, str(doc.get("source", "")), out)


def load(data_dir: Path | None = None) -> Catalog:
    path = PACKAGED
    if data_dir is not None and (data_dir / FILENAME).exists():
        path = data_dir / FILENAME
    try:
        return parse(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, json.JSONDecodeError) as exc:
        raise EolError(f"{path}: {exc}") from exc


def windows_cycles(cat: Catalog, cycle: str, edition: str = "") -> list[Release]:
    """The catalog's cycles for a Windows release ('11-23h2') and edition ('' = unknown: every
    edition of the general channel; LTSC only when the edition says so)."""
    rels = [r for r in cat.cycles("windows") if r.cycle == cycle or r.cycle.startswith(cycle + "-")]
    if edition:
        suffix = EDITION_SUFFIX[edition]
        exact = [r for r in rels if r.cycle == f"{cycle}-{suffix}"]
        return exact or [r for r in rels if r.cycle == cycle]
    return [r for r in rels if not r.lts]


def _days(a: str, today: date) -> int | None:
    if not a or a == "ended":
        return None
    return (date.fromisoformat(a) - today).days


def verdict(cat: Catalog, product: str, cycle: str, today: date, edition: str = "",
            esu_until: str = "") -> dict[str, Any] | None:
    """past | soon | supported for one release; None when the catalog does not know it.

    Where several editions share the release and the edition is unknown, the latest end date
    among them is used, and `edition_assumed` says so. An attested ESU enrolment (Windows 10)
    moves the end to the earlier of the attestation and the catalog's extended-support end."""
    rels = (windows_cycles(cat, cycle, edition) if product == "windows"
            else [r for r in cat.cycles(product) if r.cycle == cycle])
    if not rels:
        return None

    def end_of(r: Release) -> str:
        if product in FREE_EXTENDED and r.eoes not in ("", "ended"):
            return r.eoes
        return r.eol

    ends = [end_of(r) for r in rels]
    if "" in ends:
        end = ""
    elif all(e == "ended" for e in ends):
        end = "ended"
    else:
        end = max(e for e in ends if e != "ended")
    chosen = next(r for r in rels if end_of(r) == end)
    out: dict[str, Any] = {
        "product": product, "cycle": chosen.cycle, "label": chosen.label, "eol": end,
        "editions": {r.cycle: r.eol or "supported" for r in rels},
        "edition": edition or "unknown", "edition_assumed": not edition and len(rels) > 1,
        "catalog_as_of": cat.as_of, "catalog_source": cat.source, "latest": chosen.latest}
    if end != chosen.eol:
        out["eol_regular"] = chosen.eol
        out["extended_by"] = FREE_EXTENDED[product]
    esu = ""
    if esu_until and chosen.eoes and product not in FREE_EXTENDED:
        esu = min(esu_until, chosen.eoes)
        out["esu_until"] = esu
        out["esu_catalog_end"] = chosen.eoes
    left = _days(end, today)
    if end == "ended" or (left is not None and left < 0):
        if esu and date.fromisoformat(esu) >= today:
            out["status"] = "esu"
            out["days_left"] = (date.fromisoformat(esu) - today).days
        else:
            out["status"] = "past"
    elif left is not None and left <= WARN_DAYS:
        out["status"] = "soon"
        out["days_left"] = left
    else:
        out["status"] = "supported"
        if left is not None:
            out["days_left"] = left
    return out
