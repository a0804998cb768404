"""Inspector exports: the real PDF renders every measure, the figures agree with compliance,
tampering is caught and named, CSV cells stay inert in a spreadsheet, clients stay private."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest

from appliance.export import Pseudonymiser, neutralise, parse_period
from appliance.findings import FindingDraft, apply_drafts
from appliance.guideline import load_catalog
from appliance.store import Store
from appliance.wording import measure_label
from tests.conftest import OFFICEGUARD, ROOT, pcap

ARTIFACTS = ROOT / "tests" / "artifacts"
HOSTILE = '=HYPERLINK("http://x","y") 渋谷の受付'


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


def og(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([OFFICEGUARD, *args, "--config", str(tmp / "c.toml")],
                          capture_output=True, text=True, cwd=tmp, timeout=300)


class _AdminPage(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802
        body = b"<title>Router admin</title>"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a: object) -> None:
        pass


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("export")
    srv = HTTPServer(("127.0.0.1", 0), _AdminPage)  # a device for a loopback probe run
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    # 172.16.0.1 is the shared capture's own gateway (passive data, nothing is sent to it)
    (tmp / "c.toml").write_text(
        '[facility]\nid = "shibuya"\nname = "渋谷コワーキング"\n'
        '[[facility.ssids]]\nname = "wifi-free"\n[networks]\ngateways = ["172.16.0.1"]\n'
        f'[probe]\nports = [{srv.server_address[1]}]\n')
    for name in ("wiguard_hidden_SSID.pcapng", "ppa_arppoison.pcapng"):
        assert og(tmp, "ingest", str(pcap(name))).returncode == 0
    try:
        probed = og(tmp, "probe", "--scope", "127.0.0.1/32")
    finally:
        srv.shutdown()
        srv.server_close()
    assert probed.returncode == 0, probed.stderr
    with Store(tmp / "officeguard-data" / "officeguard.db") as store:
        store.write(lambda c: apply_drafts(c, [FindingDraft(
            "lan.unknown_station", "3-8", "low", HOSTILE, "未登録の端末", "Unknown", 1.78e9)]))
    (tmp / "policy.pdf").write_bytes(b"%PDF policy")
    assert og(tmp, "attest", "1-1", "--note", "v1", "--evidence",
              str(tmp / "policy.pdf")).returncode == 0
    res = og(tmp, "export", "--from", "2010-01-01", "--to", "2026-12-31", "--json")
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    folder = Path(out["folder"])
    doc = json.loads((folder / "export.json").read_text())
    comp = json.loads(og(tmp, "compliance", "--json", "--date", doc["as_of"]).stdout)
    return {"tmp": tmp, "folder": folder, "out": out, "doc": doc, "compliance": comp}


def test_files_of_an_export(exported: dict[str, Any]) -> None:
    names = set(exported["out"]["files"])
    assert {"report.html", "report.pdf", "export.json", "findings.csv", "measures.csv",
            "access_points.csv", "devices.csv", "probe_runs.csv", "manifest.json",
            "manifest.sig", "signing-public-key.pem"} <= names


def test_the_probe_run_is_in_the_export(exported: dict[str, Any]) -> None:
    runs = exported["doc"]["probe_runs"]
    assert len(runs) == 1 and runs[0]["hosts"] == 1 and runs[0]["open_ports"] == 1
    with (exported["folder"] / "probe_runs.csv").open(encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 1 and rows[0]["jobs"] == "scan,isolation,website"


def test_pdf_renders_every_measure_and_agrees_with_compliance(exported: dict[str, Any]
                                                              ) -> None:
    folder, comp = exported["folder"], exported["compliance"]
    if shutil.which("pdftoppm") is None:
        pytest.skip("needs poppler-utils (make test installs it)")
    ARTIFACTS.mkdir(exist_ok=True)
    for old in ARTIFACTS.glob("export-page-*.png"):
        old.unlink()
    subprocess.run(["pdftoppm", "-png", "-r", "60", str(folder / "report.pdf"),
                    str(ARTIFACTS / "export-page")], check=True)
    pages = sorted(ARTIFACTS.glob("export-page-*.png"))
    assert len(pages) >= 4
    assert all(p.stat().st_size > 5000 for p in pages)  # pages with something drawn on them
    text = subprocess.run(["pdftotext", "-layout", str(folder / "report.pdf"), "-"],
                          capture_output=True, text=True, check=True).stdout
    for m in load_catalog().measures:
        assert f"{measure_label(m.id)} {m.title_ja}" in text.replace("\n", " "), m.id
    assert comp["estimate"]["label_ja"] in text
    assert "指定検査事業者" in text and "渋谷コワーキング" in text
    assert exported["doc"]["signing_key_sha256"][:23] in text
    doc = exported["doc"]["compliance"]
    assert doc["estimate"] == comp["estimate"] and doc["grades"] == comp["grades"]
    assert [(m["measure"], m["verdict"]) for m in doc["measures"]] == [
        (m["measure"], m["verdict"]) for m in comp["measures"]]
    rows = read_csv(folder / "measures.csv")
    assert [(r["measure"], r["verdict"]) for r in rows] == [
        (m["measure"], m["verdict"]) for m in comp["measures"]]


def test_verify_passes_then_names_every_tampered_file(exported: dict[str, Any],
                                                      tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(exported["folder"], copy)

    def verify() -> subprocess.CompletedProcess[str]:
        return subprocess.run([OFFICEGUARD, "verify-export", str(copy), "--json"],
                              capture_output=True, text=True)

    ok = verify()
    assert ok.returncode == 0 and json.loads(ok.stdout)["ok"] is True
    for f in sorted(copy.iterdir()):
        original = f.read_bytes()
        data = bytearray(original)
        data[len(data) // 2] ^= 0x01
        f.write_bytes(bytes(data))
        res = verify()
        doc = json.loads(res.stdout)
        assert res.returncode == 1 and not doc["ok"], f.name
        assert any(f.name in p or (f.name == "manifest.sig" and "signature" in p)
                   or (f.name == "signing-public-key.pem" and "signing-public-key" in p)
                   for p in doc["problems"]), (f.name, doc["problems"])
        f.write_bytes(original)
    assert verify().returncode == 0
    (copy / "findings.csv").unlink()
    doc = json.loads(verify().stdout)
    assert "findings.csv: missing" in doc["problems"]
    shutil.copy(exported["folder"] / "findings.csv", copy / "findings.csv")
    (copy / "extra.txt").write_text("slipped in")
    assert "extra.txt: not in the manifest (added after signing)" in json.loads(
        verify().stdout)["problems"]


def test_pinned_key_rejects_a_re_signed_export(exported: dict[str, Any], tmp_path: Path) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from appliance import signing

    copy = tmp_path / "forged"
    shutil.copytree(exported["folder"], copy)
    (copy / "findings.csv").write_text("nothing to see\n")
    signing.sign_folder(copy, Ed25519PrivateKey.generate(), {"forged": True})
    pinned = exported["tmp"] / "officeguard-data" / "pinned.pem"
    pinned.write_bytes((exported["folder"] / signing.PUBLIC_KEY).read_bytes())
    assert signing.verify_folder(copy) == []  # consistent with itself...
    problems = signing.verify_folder(copy, pinned)  # ...but not signed by this appliance
    assert problems and "signature" in problems[0]


def test_csv_cells_are_inert_and_japanese_survives(exported: dict[str, Any],
                                                   tmp_path: Path) -> None:
    path = exported["folder"] / "findings.csv"
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")  # BOM: Excel reads UTF-8
    rows = read_csv(path)
    [row] = [r for r in rows if "HYPERLINK" in r["subject"]]
    assert row["subject"] == "'" + HOSTILE
    assert row["title_ja"] == "未登録の端末"
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    with path.open(encoding="utf-8-sig", newline="") as f:
        for r in csv.reader(f):
            ws.append(r)
    wb.save(tmp_path / "findings.xlsx")
    back = openpyxl.load_workbook(tmp_path / "findings.xlsx")
    cells = [c for row_ in back.active.iter_rows() for c in row_ if c.value and
             "HYPERLINK" in str(c.value)]
    assert cells and all(c.data_type == "s" for c in cells)  # text, not a formula
    assert cells[0].value == "'" + HOSTILE


def test_client_macs_are_pseudonymised(exported: dict[str, Any]) -> None:
    doc = exported["doc"]
    text = json.dumps(doc)
    assert "00:21:70:c0:56:f0" not in text  # the Dell client of the ARP capture
    gw = [d for d in doc["devices"] if d["ip"] == "172.16.0.1"]
    assert gw and all(d["mac"] == "00:25:b3:bf:91:ee" for d in gw)  # gateway address: kept
    assert any(a["bssid"] == "f0:9f:c2:6a:88:26" for a in doc["access_points"])  # APs kept
    clients = [d["mac"] for d in doc["devices"] if d["ip"] == "172.16.0.107"]
    assert clients and clients[0].startswith("client-")
    assert doc["privacy"]["pseudonymised"] and doc["privacy"]["note_ja"]
    csv_text = (exported["folder"] / "devices.csv").read_text(encoding="utf-8-sig")
    assert "00:21:70:c0:56:f0" not in csv_text and clients[0] in csv_text


def test_units() -> None:
    assert neutralise("=1+1") == "'=1+1" and neutralise("-75") == "'-75"
    assert neutralise(-75) == -75 and neutralise("Shibuya") == "Shibuya"
    assert neutralise("\tx") == "'\tx" and neutralise("@sum") == "'@sum"
    p = Pseudonymiser({"aa:bb:cc:dd:ee:ff"})
    a = p.mac("02:00:00:00:00:01")
    assert a == p.mac("02:00:00:00:00:01") and a != p.mac("02:00:00:00:00:02")
    assert p.mac("AA:BB:CC:DD:EE:FF") == "AA:BB:CC:DD:EE:FF"
    assert Pseudonymiser(set()).mac("02:00:00:00:00:01") != a  # another export, another key
    assert parse_period("2026-02", None, None).end.isoformat() == "2026-02-28"
    assert parse_period(None, None, None).label  # last month
    from appliance.export import ExportError

    for bad in (("2026-13", None, None), (None, "2026-01-10", None),
                (None, "2026-02-01", "2026-01-01")):
        with pytest.raises(ExportError):
            parse_period(*bad)


def test_export_notice_goes_to_the_outbox(exported: dict[str, Any]) -> None:
    import sqlite3

    conn = sqlite3.connect(exported["tmp"] / "officeguard-data" / "officeguard.db")
    rows = [json.loads(p) for (p,) in conn.execute(
        "SELECT payload FROM outbox WHERE topic = 'exports'")]
    conn.close()
    assert rows and rows[-1]["folder"] == exported["folder"].name
    assert rows[-1]["change"] == "export" and rows[-1]["message_ja"]
    from agent.mqtt import Router

    assert Router(0, 0).route(rows[-1], 0.0) == "alert"  # staff hear about it at once


def test_export_by_email_over_starttls(exported: dict[str, Any], tmp_path: Path) -> None:
    import email
    import zipfile

    from tests.conftest import SmtpServer

    with SmtpServer(tmp_path) as smtp:
        tmp = exported["tmp"]
        (tmp / "mail.toml").write_text((tmp / "c.toml").read_text()
                                       + smtp.toml("inspector@example.jp"))
        res = subprocess.run([OFFICEGUARD, "export", "--period", "2026-11", "--config",
                              str(tmp / "mail.toml"), "--json"], capture_output=True,
                             text=True, cwd=tmp, timeout=300)
        assert res.returncode == 0, res.stderr
        assert json.loads(res.stdout)["email"] == "sent to inspector@example.jp"
    received = smtp.received
    [raw] = received
    msg = email.message_from_bytes(raw)
    names = {p.get_filename(): p for p in msg.walk() if p.get_filename()}
    assert {"report.pdf", "manifest.json", "manifest.sig", "signing-public-key.pem"} <= set(names)
    zipped = next(p for n, p in names.items() if n.endswith(".zip"))
    (tmp_path / "x.zip").write_bytes(zipped.get_payload(decode=True))
    with zipfile.ZipFile(tmp_path / "x.zip") as z:
        z.extractall(tmp_path / "unzipped")
    res = subprocess.run([OFFICEGUARD, "verify-export", str(tmp_path / "unzipped")],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stdout  # what the inspector receives verifies


def test_the_agent_schedules_last_months_export(tmp_path: Path) -> None:
    from datetime import datetime

    from agent.runner import Agent
    from appliance.config import from_mapping

    toml = tmp_path / "c.toml"
    toml.write_text(f'[interfaces]\nlan = "none0"\n[storage]\ndata_dir = "{tmp_path / "data"}"\n')
    cfg = from_mapping({"interfaces": {"lan": "none0"},
                        "storage": {"data_dir": str(tmp_path / "data")}})
    renderer_loaded = "weasyprint" in sys.modules
    with Store(tmp_path / "data" / "officeguard.db") as store:
        agent = Agent(cfg, store, config_path=str(toml))
        agent._maybe_export(datetime(2026, 12, 1, 1, 0))  # before 02:00: not yet
        assert agent._export is None
        agent._maybe_export(datetime(2026, 12, 1, 3, 0))
        assert agent._export is not None and agent._export_period == "2026-11"
        running = agent._export
        agent._maybe_export(datetime(2026, 12, 1, 3, 5))  # one at a time
        assert agent._export is running
        running.join(120)  # in a thread of the agent: no `officeguard export` child
        assert not running.is_alive() and agent.export_error is None
        agent._maybe_export(datetime(2026, 12, 1, 3, 10))  # reaps it; done: nothing new
        assert agent._export is None
        assert agent.status_doc()["export"] == {"period": "2026-11", "running": False,
                                                "error": None}
        rows = store.query("SELECT period, path FROM exports")
    assert [r["period"] for r in rows] == ["2026-11"]
    assert (Path(rows[0]["path"]) / "report.pdf").exists()
    if not renderer_loaded:  # (run alone) the PDF was rendered in a child, not in the agent
        assert "weasyprint" not in sys.modules
