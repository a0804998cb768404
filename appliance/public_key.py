"""The export-signing public key as a plain file anyone may read: `<data_dir>/export-signing-
public.json` with the PEM and its SHA-256 fingerprint. Written by whoever makes or loads the
private key (appliance/signing.py: first boot, an export); read by the dashboard, which thus
never loads the cryptography library (about 10 MB) nor touches the private key."""

from __future__ import annotations

import json
import os
from pathlib import Path

NAME = "export-signing-public.json"


def info_path(data_dir: Path) -> Path:
    return data_dir / NAME


def write_info(data_dir: Path, pem: str, sha256: str) -> None:
    """Replace the file atomically (a reader never sees half of it)."""
    path = info_path(data_dir)
    tmp = path.with_name(f".{NAME}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"pem": pem, "sha256": sha256}, indent=2) + "\n")
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def read_info(data_dir: Path) -> dict[str, str] | None:
    """{"pem", "sha256"}, or None before the key exists (or if the file is unreadable)."""
    try:
        doc = json.loads(info_path(data_dir).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(doc, dict) or not isinstance(doc.get("pem"), str) or not isinstance(
            doc.get("sha256"), str):
        return None
    return {"pem": doc["pem"], "sha256": doc["sha256"]}
