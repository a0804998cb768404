"""CISA Known Exploited Vulnerabilities (KEV) catalog: parse the published JSON feed, and find the
entries a release past its end of support can no longer be fixed for. Pure, apart from `load`.

KEV names a vendor and product but no versions, so a currently supported release cannot be
judged from the outside (its patch level is not visible over SMB/RDP). What can be said: a KEV
entry for the same vendor and product, added after the release's end of support, gets no fix
for that release — it is open there unless the vendor said the release is unaffected. Those are
reported, as guideline.md §6.3 asks, as critical.

Installed with `officeguard catalog update FILE|URL --kind kev` (verified like the
end-of-support catalog) as `<data_dir>/kev.json`; there is no packaged copy.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

FILENAME = "kev.json"
# catalog product → (vendorProject, product) pairs in KEV's own spelling, lower case
PRODUCTS: dict[str, tuple[tuple[str, str], ...]] = {
    "windows": (("microsoft", "windows"),),
    "windows-server": (("microsoft", "windows"), ("microsoft", "windows server")),
    "macos": (("apple", "macos"), ("apple", "multiple products")),
    "debian": (("debian", "debian linux"),),
    "ubuntu": (("canonical", "ubuntu"),),
    "rhel": (("red hat", "enterprise linux"),),
    "routeros": (("mikrotik", "routeros"),),
    "fortios": (("fortinet", "fortios"),),
    "pan-os": (("palo alto networks", "pan-os"),),
    "cisco-ios-xe": (("cisco", "ios xe"), ("cisco", "ios and ios xe")),
}


class KevError(ValueError):
    """A KEV feed that cannot be used; the message says where."""


@dataclass(frozen=True, slots=True)
class Kev:
    cve: str
    vendor: str
    product: str
    name: str
    date_added: str
    ransomware: str


@dataclass(frozen=True, slots=True)
class KevCatalog:
    version: str
    released: str
    entries: tuple[Kev, ...]


def parse(doc: Any) -> KevCatalog:
    if not isinstance(doc, dict) or not isinstance(doc.get("vulnerabilities"), list):
        raise KevError("not a CISA KEV feed (an object with a list 'vulnerabilities')")
    out = []
    for i, v in enumerate(doc["vulnerabilities"]):
        try:
            added = date.fromisoformat(str(v["dateAdded"])).isoformat()
            cve = str(v["cveID"])
            if not cve.startswith("CVE-"):
                raise ValueError(f"not a CVE id: {cve!r}")
            out.append(Kev(cve, str(v["vendorProject"]), str(v["product"]),
                           str(v.get("vulnerabilityName", ""))[:200], added,
                           str(v.get("knownRansomwareCampaignUse", ""))))
        except (KeyError, TypeError, ValueError) as exc:
            raise KevError(f"vulnerabilities[{i}]: {exc}") from exc
    released = str(doc.get("dateReleased", ""))[:10]
    return KevCatalog(str(doc.get("catalogVersion", "")), released, tuple(out))


def load(data_dir: Path) -> KevCatalog | None:
    path = data_dir / FILENAME
    if not path.exists():
        return None
    try:
        return parse(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, json.JSONDecodeError) as exc:
        raise KevError(f"{path}: {exc}") from exc


def unfixed_after_end(cat: KevCatalog, product: str, end: str) -> list[Kev]:
    """KEV entries for PRODUCT's vendor/product added after END (ISO date)."""
    pairs = PRODUCTS.get(product, ())
    if not pairs or not end or end == "ended":
        return []
    return sorted((k for k in cat.entries
                   if (k.vendor.lower(), k.product.lower()) in pairs and k.date_added > end),
                  key=lambda k: k.date_added, reverse=True)
