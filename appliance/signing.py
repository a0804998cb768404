"""The appliance's export-signing key (Ed25519) and the manifest it signs.

The key is made on the appliance the first time it is needed (first boot on the image) and never
leaves it: `<data_dir>/keys/export-signing.pem`, mode 600. Inspectors pin the public key, shown
in every report, in the export folder and by `officeguard status`.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from appliance import public_key

MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
PUBLIC_KEY = "signing-public-key.pem"


def key_path(data_dir: Path) -> Path:
    return data_dir / "keys" / "export-signing.pem"


def load_or_create_key(data_dir: Path) -> Ed25519PrivateKey:
    """The key (made now if there is none); its public half is also written where the
    dashboard reads it (appliance/public_key.py) if it is not there yet."""
    key = _load_or_create(data_dir)
    info = public_key.read_info(data_dir)
    if info is None or info["sha256"] != fingerprint(key):
        # (a read-only copy cannot take it: the dashboard then says the key is not made)
        with contextlib.suppress(OSError):
            public_key.write_info(data_dir, public_pem(key).decode(), fingerprint(key))
    return key


def _load_or_create(data_dir: Path) -> Ed25519PrivateKey:
    path = key_path(data_dir)
    if path.exists():
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError(f"{path} is not an Ed25519 key")
        return key
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    return key


def public_pem(key: Ed25519PrivateKey | Ed25519PublicKey) -> bytes:
    pub = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return pub.public_bytes(serialization.Encoding.PEM,
                            serialization.PublicFormat.SubjectPublicKeyInfo)


def fingerprint(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    """SHA-256 of the raw public key, as colon-separated hex (what an inspector pins)."""
    pub = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    raw = pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).digest().hex(":")


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def sign_folder(folder: Path, key: Ed25519PrivateKey, meta: dict[str, Any]) -> str:
    """Write the public key, the manifest of every file (name, size, SHA-256) and its
    signature. Returns the manifest's SHA-256."""
    (folder / PUBLIC_KEY).write_bytes(public_pem(key))
    files = []
    for p in sorted(folder.iterdir()):
        if p.name in (MANIFEST, SIGNATURE) or not p.is_file():
            continue
        files.append({"name": p.name, "size": p.stat().st_size, "sha256": sha256_file(p)})
    manifest = {**meta, "public_key_sha256": fingerprint(key), "files": files}
    body = json.dumps(manifest, ensure_ascii=False, indent=2, sort_keys=True).encode()
    (folder / MANIFEST).write_bytes(body)
    (folder / SIGNATURE).write_text(base64.b64encode(key.sign(body)).decode() + "\n")
    return hashlib.sha256(body).hexdigest()


def verify_folder(folder: Path, pinned: Path | None = None) -> list[str]:
    """Every problem found, each naming the file; an empty list means the export is intact.

    Without `pinned` the folder's own public key is used, which proves that nothing changed
    after signing; pinning the appliance's key (or comparing the fingerprint printed by
    verify-export with the one on the dashboard) also rules out a re-signed forgery."""
    problems: list[str] = []
    try:
        body = (folder / MANIFEST).read_bytes()
        sig = base64.b64decode((folder / SIGNATURE).read_text().strip(), validate=True)
    except (OSError, ValueError) as exc:
        return [f"{MANIFEST}/{SIGNATURE}: missing or unreadable ({exc})"]
    try:
        pem = pinned.read_bytes() if pinned else (folder / PUBLIC_KEY).read_bytes()
        pub = serialization.load_pem_public_key(pem)
        if not isinstance(pub, Ed25519PublicKey):
            return [f"{PUBLIC_KEY}: not an Ed25519 public key"]
        pub.verify(sig, body)
    except InvalidSignature:
        try:
            named = json.loads(body).get("public_key_sha256")
        except ValueError:
            named = None
        if pinned is None and named and isinstance(pub, Ed25519PublicKey) and (
                named != fingerprint(pub)):
            return [f"{PUBLIC_KEY}: changed (not the key the manifest names)"]
        return [f"{MANIFEST}: the signature does not match (the manifest or {SIGNATURE} was "
                "changed, or it was signed by another key)"]
    except (OSError, ValueError, TypeError, UnsupportedAlgorithm) as exc:
        return [f"{PUBLIC_KEY}: {exc}"]
    manifest, shape = _manifest_shape(body)
    if shape:
        return [f"{MANIFEST}: {shape} (crafted or damaged)"]
    if manifest.get("public_key_sha256") != fingerprint(pub):
        problems.append(f"{MANIFEST}: names a different key than the one that verified it")
    listed = set()
    for f in manifest["files"]:
        name = f["name"]
        listed.add(name)
        p = folder / name
        if p.is_symlink() or not p.is_file():
            problems.append(f"{name}: missing")
        elif sha256_file(p) != f["sha256"]:
            problems.append(f"{name}: changed (SHA-256 differs from the manifest)")
    for p in sorted(folder.iterdir()):
        if p.name not in listed and p.name not in (MANIFEST, SIGNATURE):
            problems.append(f"{p.name}: not in the manifest (added after signing)")
    return problems


_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


def _manifest_shape(body: bytes) -> tuple[dict[str, Any], str]:
    """The manifest, or why its shape is wrong: a JSON object whose `files` is a list of
    {name, sha256} with plain file names (nothing that leaves the folder) and hex digests."""
    try:
        manifest = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return {}, "not a JSON document"
    if not isinstance(manifest, dict):
        return {}, "not a JSON object"
    files = manifest.get("files")
    if not isinstance(files, list):
        return {}, "has no list of files"
    seen: set[str] = set()
    for i, f in enumerate(files):
        if not isinstance(f, dict) or not isinstance(f.get("name"), str) or \
                not isinstance(f.get("sha256"), str):
            return {}, f"files[{i}] is not a {{name, sha256}} entry"
        name = f["name"]
        if (not name or name in (".", "..") or "/" in name or "\\" in name or "\0" in name
                or name in (MANIFEST, SIGNATURE) or name in seen):
            return {}, f"files[{i}] names {name[:80]!r}, which is not a file of this folder"
        if not _SHA256_RE.match(f["sha256"]):
            return {}, f"files[{i}] has no SHA-256 digest"
        seen.add(name)
    return manifest, ""
