"""Issue #14: no client MAC in any file of a pseudonymised export; verify-export against a
forger's manifests."""

from __future__ import annotations

import base64
import json
import re
import shutil
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.capture import LINKTYPE_ETHERNET, write_pcap
from appliance import signing
from tests.arpgen import ether_arp
from tests.conftest import OFFICEGUARD, pcap

MAC_RE = re.compile(r"\b[0-9a-f]{2}(?::[0-9a-f]{2}){5}\b")


def og(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([OFFICEGUARD, *args, "--config", str(tmp / "c.toml")],
                          capture_output=True, text=True, cwd=tmp, timeout=600)


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("hostile-export")
    (tmp / "c.toml").write_text('[facility]\nid = "site"\n[networks]\n'
                                'gateways = ["172.16.0.1"]\nbusiness = ["192.0.2.0/24"]\n')
    # five unregistered office clients announce themselves on the business network (ARP):
    # each one a client MAC in the store and the subject of a lan.unknown_station finding
    clients = [(f"00:1b:21:14:00:{i:02x}", f"192.0.2.{10 + i}") for i in range(1, 6)]
    write_pcap(tmp / "clients.pcap", LINKTYPE_ETHERNET,
               [(1.7e9 + i, ether_arp(1, mac, ip, tip="192.0.2.1"))
                for i, (mac, ip) in enumerate(clients)])
    for cap in (pcap("wiguard_hidden_SSID.pcapng"), pcap("ppa_arppoison.pcapng"),
                tmp / "clients.pcap"):
        res = og(tmp, "ingest", str(cap))
        assert res.returncode == 0, res.stderr
    res = og(tmp, "export", "--from", "2000-01-01", "--to", "2026-12-31", "--json")
    assert res.returncode == 0, res.stderr
    return {"tmp": tmp, "folder": Path(json.loads(res.stdout)["folder"]),
            "db": tmp / "officeguard-data" / "officeguard.db"}


def _client_macs(db: Path, gateways: set[str]) -> set[str]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        aps = {r[0].lower() for r in conn.execute("SELECT bssid FROM access_points")}
        keep = aps | {r[0].lower() for r in conn.execute(
            "SELECT mac FROM stations WHERE ip IN ({})".format(",".join("?" * len(gateways))),
            tuple(gateways))}
        found = {r[0].lower() for r in conn.execute("SELECT mac FROM stations")}
        for (text,) in conn.execute("SELECT subject || ' ' || evidence FROM findings"):
            found |= {m.lower() for m in MAC_RE.findall(text.lower())}
    finally:
        conn.close()
    return found - keep


def test_no_client_mac_in_any_file_of_the_export(export: dict[str, Any]) -> None:
    clients = _client_macs(export["db"], {"172.16.0.1"})
    assert len(clients) >= 5  # the captures do have clients: the search examines something
    doc = json.loads((export["folder"] / "export.json").read_text())
    assert doc["privacy"]["pseudonymised"] is True
    subjects = [f["subject"] for m in doc["compliance"]["measures"]
                for f in m.get("findings", [])]
    assert subjects, "the compliance section lists findings"
    texts: dict[str, str] = {}
    for p in sorted(export["folder"].iterdir()):
        if p.suffix == ".pdf":
            if shutil.which("pdftotext") is None:
                continue
            texts[p.name] = subprocess.run(["pdftotext", str(p), "-"], capture_output=True,
                                           text=True, check=True).stdout
        else:
            texts[p.name] = p.read_bytes().decode("utf-8", "replace")
    assert {"export.json", "findings.csv", "report.html"} <= set(texts)
    for name, text in texts.items():
        low = text.lower()
        for mac in clients:
            for form in (mac, mac.replace(":", "-")):
                assert form not in low, f"{mac} in {name}"


def _resign(folder: Path, manifest: bytes) -> Path:
    """What a forger does: a new manifest, signed with a key of their own, key included."""
    key = Ed25519PrivateKey.generate()
    (folder / signing.MANIFEST).write_bytes(manifest)
    (folder / signing.SIGNATURE).write_text(base64.b64encode(key.sign(manifest)).decode())
    (folder / signing.PUBLIC_KEY).write_bytes(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return folder


def _fp(folder: Path) -> str:
    pub = serialization.load_pem_public_key((folder / signing.PUBLIC_KEY).read_bytes())
    return signing.fingerprint(pub)  # type: ignore[arg-type]


@pytest.mark.parametrize("case", ["etc-passwd", "dotdot", "not-utf8", "no-sha", "list",
                                  "files-not-list", "bad-digest"])
def test_verify_export_reports_crafted_manifests_as_tampered(export: dict[str, Any],
                                                             tmp_path: Path, case: str) -> None:
    folder = Path(shutil.copytree(export["folder"], tmp_path / "copy"))
    manifest = json.loads((folder / signing.MANIFEST).read_text())
    files = manifest["files"]
    if case == "etc-passwd":
        files.append({"name": "/etc/passwd", "sha256": "0" * 64})
    elif case == "dotdot":
        files.append({"name": "../../../etc/hostname", "sha256": "0" * 64})
    elif case == "no-sha":
        files.append({"name": "export.json"})
    elif case == "bad-digest":
        files[0]["sha256"] = ["x"]
    body = json.dumps(manifest).encode()
    if case == "not-utf8":
        body = b"\xff\xfe{" + body
    elif case == "list":
        body = b"[1, 2, 3]"
    elif case == "files-not-list":
        body = json.dumps({**manifest, "files": "all"}).encode()
    _resign(folder, body)
    if case not in ("not-utf8", "list", "files-not-list"):
        # sign with the manifest naming the forger's key, as a careful forger would
        manifest["public_key_sha256"] = _fp(folder)
        _resign(folder, json.dumps(manifest).encode())
        key_pem = (folder / signing.PUBLIC_KEY).read_bytes()
        assert key_pem  # (the key changed again: name it once more)
        manifest["public_key_sha256"] = _fp(folder)
    res = subprocess.run([OFFICEGUARD, "verify-export", str(folder)], capture_output=True,
                         text=True, timeout=60)
    assert res.returncode == 1, (res.returncode, res.stdout, res.stderr)
    assert "Traceback" not in res.stderr and "NOT intact" in res.stdout
    assert "manifest.json" in res.stdout


def test_verify_export_says_when_no_key_was_pinned(export: dict[str, Any]) -> None:
    folder = export["folder"]
    res = subprocess.run([OFFICEGUARD, "verify-export", str(folder)], capture_output=True,
                         text=True, timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "NOT pinned" in res.stdout and _fp(folder) in res.stdout
    pinned = subprocess.run([OFFICEGUARD, "verify-export", str(folder), "--public-key",
                             str(folder / signing.PUBLIC_KEY)], capture_output=True, text=True,
                            timeout=60)
    assert pinned.returncode == 0 and "NOT pinned" not in pinned.stdout


def test_a_re_signed_forgery_with_the_real_key_pinned_fails(export: dict[str, Any],
                                                            tmp_path: Path) -> None:
    real_key = tmp_path / "real.pem"
    real_key.write_bytes((export["folder"] / signing.PUBLIC_KEY).read_bytes())
    folder = Path(shutil.copytree(export["folder"], tmp_path / "forged"))
    (folder / "findings.csv").write_text("nothing to see\n")
    manifest = json.loads((folder / signing.MANIFEST).read_text())
    for f in manifest["files"]:
        if f["name"] == "findings.csv":
            f["sha256"] = signing.sha256_file(folder / "findings.csv")
    _resign(folder, json.dumps(manifest).encode())
    res = subprocess.run([OFFICEGUARD, "verify-export", str(folder), "--public-key",
                          str(real_key)], capture_output=True, text=True, timeout=60)
    assert res.returncode == 1 and "signature does not match" in res.stdout
