"""`officeguard catalog update FILE|URL`: replace the end-of-support catalog with a newer one,
only when the file is what its publisher made.

A file is accepted when either
- `--sha256 HEX` (the publisher's published hash) matches its bytes, or
- a detached signature `FILE.sig` (base64 Ed25519 over the file's bytes; for a URL, URL + ".sig")
  verifies against a trusted publisher key: `appliance/data/catalog-keys/*.pem` or the keys the
  administrator placed in `<data_dir>/keys/catalog-trusted/*.pem`;
and it parses as a catalog. Otherwise it is refused with the reason and the installed catalog
stays as it was. Nothing is fetched unless the user gives a URL; nothing runs at start-up.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from appliance import eol, kev

if TYPE_CHECKING:  # cryptography (and OpenSSL, 14 MB) loads only when a key is used, not
    # whenever the command line is built
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

PACKAGED_KEYS = Path(__file__).resolve().parent / "data" / "catalog-keys"
LIMIT = 20_000_000


class CatalogRefused(ValueError):
    """The file was not installed; the message says why. The old catalog is unchanged."""


def trusted_keys(data_dir: Path) -> list[tuple[str, Ed25519PublicKey]]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    keys = []
    for d in (PACKAGED_KEYS, data_dir / "keys" / "catalog-trusted"):
        for p in sorted(d.glob("*.pem")) if d.is_dir() else []:
            try:
                k = serialization.load_pem_public_key(p.read_bytes())
            except (ValueError, OSError):
                continue
            if isinstance(k, Ed25519PublicKey):
                keys.append((p.name, k))
    return keys


def verify(raw: bytes, sig: bytes | None, sha256: str,
           keys: list[tuple[str, Ed25519PublicKey]]) -> str:
    """How the file was verified ('sha256' or 'signature KEYNAME'); raises CatalogRefused."""
    from cryptography.exceptions import InvalidSignature

    digest = hashlib.sha256(raw).hexdigest()
    if sha256:
        if digest != sha256.strip().lower():
            raise CatalogRefused(f"corrupted or altered: its SHA-256 is {digest}, the publisher's "
                                 f"is {sha256.strip().lower()}")
        return "sha256"
    if sig is None:
        raise CatalogRefused("unsigned: give the publisher's --sha256 HASH, or place the "
                             "detached signature next to it (FILE.sig)")
    try:
        sig_bytes = base64.b64decode(sig.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise CatalogRefused("the signature file is not base64") from exc
    if not keys:
        raise CatalogRefused("signed, but no trusted catalog key is installed "
                             "(<data_dir>/keys/catalog-trusted/*.pem)")
    for name, key in keys:
        try:
            key.verify(sig_bytes, raw)
            return f"signature {name}"
        except InvalidSignature:
            continue
    raise CatalogRefused("corrupted or altered: the signature does not verify with any trusted "
                         "catalog key")


def update(data_dir: Path, source: str, fetch: Callable[[str], bytes | None],
           sha256: str = "", kind: str = "eol") -> dict[str, Any]:
    """Verify, parse and atomically install SOURCE as `<data_dir>/eol.json` (kind eol) or
    `<data_dir>/kev.json` (kind kev, the CISA KEV feed)."""
    raw = fetch(source)
    if raw is None:
        raise CatalogRefused(f"{source}: cannot read it")
    sig = None if sha256 else fetch(source + ".sig")
    how = verify(raw, sig, sha256, trusted_keys(data_dir))
    try:
        if kind == "kev":
            k = kev.parse(json.loads(raw))
            info: dict[str, Any] = {"as_of": k.released, "source": f"CISA KEV {k.version}",
                                    "entries": len(k.entries)}
        else:
            cat = eol.parse(json.loads(raw))
            info = {"as_of": cat.as_of, "source": cat.source, "products": len(cat.releases)}
    except (ValueError, eol.EolError, kev.KevError) as exc:
        raise CatalogRefused(f"verified, but not a usable catalog: {exc}") from exc
    dest = data_dir / (kev.FILENAME if kind == "kev" else eol.FILENAME)
    dest.parent.mkdir(parents=True, exist_ok=True)
    old = None
    if dest.exists():
        try:
            prev = kev.load(data_dir) if kind == "kev" else eol.load(data_dir)
            old = prev.released if isinstance(prev, kev.KevCatalog) else \
                (prev.as_of if prev is not None else None)
        except (eol.EolError, kev.KevError):
            old = "unreadable"
    tmp = dest.with_suffix(".tmp")
    tmp.write_bytes(raw)
    os.replace(tmp, dest)
    return {"kind": kind, "installed": str(dest), **info,
            "sha256": hashlib.sha256(raw).hexdigest(), "verified_by": how,
            "previous_as_of": old}


def show(data_dir: Path) -> dict[str, Any]:
    cat = eol.load(data_dir)
    where = data_dir / eol.FILENAME
    k = kev.load(data_dir)
    return {"as_of": cat.as_of, "source": cat.source,
            "path": str(where if where.exists() else eol.PACKAGED),
            "products": {p: len(r) for p, r in cat.releases.items()},
            "kev": None if k is None else {"version": k.version, "released": k.released,
                                           "entries": len(k.entries)}}
