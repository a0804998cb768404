"""Issue #14: captures whose headers or options would poison the store, and rows that are
already bad (written by an older version) shown as invalid instead of breaking pages."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from agent.capture import LINKTYPE_RADIOTAP, ReadStats, read_records
from appliance.store import Store
from tests import pcapng
from tests.conftest import OFFICEGUARD
from tests.webutil import add_user, client, config_for
from tests.wifigen import beacon, radiotap

BSSID = "02:00:00:00:14:01"


def _write(path: Path, *blocks: bytes) -> Path:
    path.write_bytes(b"".join(blocks))
    return path


def test_whole_second_interface_with_a_huge_timestamp_is_skipped(tmp_path: Path) -> None:
    frame = radiotap(beacon(BSSID, "cafe"))
    cap = _write(tmp_path / "x.pcapng", pcapng.shb(),
                 pcapng.idb(LINKTYPE_RADIOTAP, pcapng.option(9, b"\x00") + pcapng.option(0, b"")),
                 pcapng.epb(1_700_000_000, frame), pcapng.epb(2**62, frame))
    stats = ReadStats()
    recs = list(read_records(cap, stats))
    assert [r[0] for r in recs] == [1_700_000_000.0]
    assert stats.skipped == 1 and "outside 1970..2100" in (stats.skip_reason or "")
    db = tmp_path / "og.db"
    res = subprocess.run([OFFICEGUARD, "ingest", str(cap), "--db", str(db), "--json"],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["files"][0]["skipped"] == 1
    with Store(db) as store:
        last = store.query("SELECT MAX(last_seen) AS m FROM access_points")[0]["m"]
    assert last == 1_700_000_000.0


def test_tsresol_option_without_its_value_byte(tmp_path: Path) -> None:
    frame = radiotap(beacon(BSSID, "cafe"))
    # option 9 claims one byte, but the block ends right after the option header
    cap = _write(tmp_path / "y.pcapng", pcapng.shb(),
                 pcapng.idb(LINKTYPE_RADIOTAP, b"\x09\x00\x01\x00"),
                 pcapng.epb(1_700_000_000 * 10**6, frame))
    recs = list(read_records(cap, ReadStats()))
    assert len(recs) == 1 and abs(recs[0][0] - 1_700_000_000) < 1e-3


def test_absurd_tsresol_is_ignored(tmp_path: Path) -> None:
    frame = radiotap(beacon(BSSID, "cafe"))
    cap = _write(tmp_path / "z.pcapng", pcapng.shb(),
                 pcapng.idb(LINKTYPE_RADIOTAP, pcapng.option(9, b"\x7f") + pcapng.option(0, b"")),
                 pcapng.epb(1_700_000_000 * 10**6, frame))
    recs = list(read_records(cap, ReadStats()))
    assert len(recs) == 1 and abs(recs[0][0] - 1_700_000_000) < 1e-3


def test_an_old_bad_row_is_shown_as_invalid_not_a_500(tmp_path: Path) -> None:
    cfg = config_for(tmp_path)
    add_user(cfg)
    cap = _write(tmp_path / "ok.pcapng", pcapng.shb(), pcapng.idb(LINKTYPE_RADIOTAP),
                 pcapng.epb(1_700_000_000 * 10**6, radiotap(beacon(BSSID, "cafe"))))
    env = {**os.environ}
    res = subprocess.run([OFFICEGUARD, "ingest", str(cap), "--db", str(cfg.db_path)],
                         capture_output=True, text=True, timeout=120, env=env)
    assert res.returncode == 0, res.stderr
    with Store(cfg.db_path) as store:  # what an older version wrote from a damaged capture
        store.write(lambda c: c.execute("UPDATE access_points SET last_seen = ?", (2.0**62,)))
    with client(cfg, login="manager") as c:
        r = c.get("/wifi")
        assert r.status_code == 200 and "invalid" in r.text
        assert c.get("/api/access-points").status_code == 200
    conf = tmp_path / "c.toml"
    conf.write_text(f'[storage]\ndata_dir = "{cfg.data_dir}"\n')
    res = subprocess.run([OFFICEGUARD, "export", "--config", str(conf), "--from", "2020-01-01",
                          "--to", "2026-12-31", "--formats", "json,csv", "--json"],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    doc = json.loads((Path(json.loads(res.stdout)["folder"]) / "export.json").read_text())
    assert doc["access_points"][0]["last_seen"] == "invalid"


def test_directories_fifos_and_devices_are_named_as_such(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for target, words in ((tmp_path, "a directory"), (fifo, "not a regular file"),
                          (Path("/dev/zero"), "not a regular file")):
        res = subprocess.run([OFFICEGUARD, "ingest", str(target), "--db",
                              str(tmp_path / "x.db")], capture_output=True, text=True,
                             timeout=60)
        assert res.returncode != 0
        assert words in res.stderr and "no such" not in res.stderr, res.stderr
