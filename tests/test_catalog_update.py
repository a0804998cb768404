"""`officeguard catalog update FILE` (#18): a signed or hashed catalog replaces the installed one
and the verdicts follow its dates; a corrupted or unsigned file is refused with a clear error
and the old catalog stays."""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from appliance import eol

TODAY = date(2026, 12, 1)
OG = str(Path(sys.executable).with_name("officeguard"))


def newer_catalog(d: Path, end: str = "2026-11-20", name: str = "eol-new.json") -> Path:
    """The packaged snapshot, with Windows 11 25H2's end moved to END (a changed verdict)."""
    doc = json.loads(eol.PACKAGED.read_text("utf-8"))
    doc["as_of"] = "2026-11-30"
    for r in doc["products"]["windows"]["releases"]:
        if r["cycle"].startswith("11-25h2"):
            r["eol"] = r["eoas"] = end
    p = d / name
    p.write_text(json.dumps(doc), "utf-8")
    return p


def sign(key: Ed25519PrivateKey, path: Path) -> Path:
    sig = path.with_name(path.name + ".sig")
    sig.write_text(base64.b64encode(key.sign(path.read_bytes())).decode())
    return sig


def trust(key: Ed25519PrivateKey, data_dir: Path) -> None:
    d = data_dir / "keys" / "catalog-trusted"
    d.mkdir(parents=True, exist_ok=True)
    (d / "publisher.pem").write_bytes(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))


@pytest.fixture()
def env(tmp_path: Path) -> dict[str, Any]:
    cfg = tmp_path / "og.toml"
    data = tmp_path / "data"
    cfg.write_text(f'[storage]\ndata_dir = "{data}"\n')
    return {"cfg": cfg, "data": data, "dir": tmp_path}


def og(env: dict[str, Any], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([OG, *args, "--config", str(env["cfg"])], capture_output=True,
                          text=True, timeout=60)


def verdict(data: Path) -> str:
    v = eol.verdict(eol.load(data), "windows", "11-25h2", TODAY)
    assert v is not None
    return str(v["status"])


def test_signed_update_changes_the_verdict(env: dict[str, Any]) -> None:
    assert verdict(env["data"]) == "supported"
    key = Ed25519PrivateKey.generate()
    trust(key, env["data"])
    new = newer_catalog(env["dir"])
    sign(key, new)
    r = og(env, "catalog", "update", str(new), "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["as_of"] == "2026-11-30" and doc["verified_by"] == "signature publisher.pem"
    assert verdict(env["data"]) == "past"
    shown = json.loads(og(env, "catalog", "show", "--json").stdout)
    assert shown["as_of"] == "2026-11-30"


def test_hashed_update(env: dict[str, Any]) -> None:
    new = newer_catalog(env["dir"])
    digest = hashlib.sha256(new.read_bytes()).hexdigest()
    r = og(env, "catalog", "update", str(new), "--sha256", digest)
    assert r.returncode == 0, r.stderr
    assert "verified by sha256" in r.stdout and verdict(env["data"]) == "past"


def _installed(env: dict[str, Any]) -> bytes | None:
    p = env["data"] / "eol.json"
    return p.read_bytes() if p.exists() else None


@pytest.mark.parametrize("case", ["unsigned", "corrupted-signed", "wrong-hash", "untrusted-key",
                                  "signed-garbage"])
def test_bad_files_are_refused_and_the_old_catalog_kept(env: dict[str, Any], case: str) -> None:
    key = Ed25519PrivateKey.generate()
    trust(key, env["data"])
    # an earlier verified update is installed; it must survive the refused one
    first = newer_catalog(env["dir"], end="2028-10-10", name="eol-first.json")
    sign(key, first)
    assert og(env, "catalog", "update", str(first)).returncode == 0
    before = _installed(env)
    new = newer_catalog(env["dir"])
    extra: list[str] = []
    want = ""
    if case == "unsigned":
        want = "unsigned"
    elif case == "corrupted-signed":
        sign(key, new)
        raw = bytearray(new.read_bytes())
        raw[len(raw) // 2] ^= 0x01
        new.write_bytes(bytes(raw))
        want = "signature does not verify"
    elif case == "wrong-hash":
        extra = ["--sha256", "0" * 64]
        want = "corrupted or altered"
    elif case == "untrusted-key":
        sign(Ed25519PrivateKey.generate(), new)
        want = "signature does not verify"
    else:
        new.write_text("{not json")
        sign(key, new)
        want = "not a usable catalog"
    r = og(env, "catalog", "update", str(new), *extra)
    assert r.returncode != 0
    assert "refused, the installed catalog is unchanged" in r.stderr and want in r.stderr
    assert _installed(env) == before
    assert verdict(env["data"]) == "supported"


def test_kev_feed_update_and_refusal(env: dict[str, Any]) -> None:
    from appliance import kev

    src = Path(__file__).parent / "data" / "kev-test.json"
    digest = hashlib.sha256(src.read_bytes()).hexdigest()
    r = og(env, "catalog", "update", str(src), "--kind", "kev", "--sha256", digest, "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["entries"] == 4
    before = (env["data"] / "kev.json").read_bytes()
    bad = env["dir"] / "kev-bad.json"
    bad.write_text(json.dumps({"vulnerabilities": [{"cveID": "CVE-1"}]}))
    r = og(env, "catalog", "update", str(bad), "--kind", "kev", "--sha256",
           hashlib.sha256(bad.read_bytes()).hexdigest())
    assert r.returncode != 0 and "not a usable catalog" in r.stderr
    r = og(env, "catalog", "update", str(src), "--kind", "kev")
    assert r.returncode != 0 and "unsigned" in r.stderr
    assert (env["data"] / "kev.json").read_bytes() == before
    cat = kev.load(env["data"])
    assert cat is not None and len(cat.entries) == 4
    shown = json.loads(og(env, "catalog", "show", "--json").stdout)
    assert shown["kev"]["entries"] == 4
