"""Issue #14: counts that add up when two writers observe at once."""

from __future__ import annotations

import sqlite3
import subprocess
from pathlib import Path
from typing import Any

from agent.capture import read_records
from agent.pipeline import Pipeline
from appliance.config import Config
from appliance.store import Store
from tests.conftest import OFFICEGUARD, pcap

CAPS = ("ppa_arppoison.pcapng", "wiguard_hidden_SSID.pcapng")


def _totals(db: Path) -> dict[str, Any]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return {
            "stations": sorted(conn.execute("SELECT ip, mac, frames FROM stations")),
            "aps": sorted(conn.execute("SELECT bssid, beacons, probe_responses, rssi_n, "
                                       "rssi_sum FROM access_points")),
            "events": sorted(conn.execute("SELECT kind, subject, SUM(count) FROM events "
                                          "GROUP BY kind, subject")),
            "findings": sorted(conn.execute("SELECT rule, subject, count FROM findings")),
        }
    finally:
        conn.close()


def _ingest(db: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([OFFICEGUARD, "ingest", *(str(pcap(c)) for c in CAPS),
                             "--db", str(db)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def test_two_ingests_at_once_equal_two_in_a_row(tmp_path: Path) -> None:
    seq = tmp_path / "seq.db"
    for _ in range(2):
        assert _ingest(seq).wait(timeout=300) == 0
    par = tmp_path / "par.db"
    procs = [_ingest(par) for _ in range(2)]
    assert [p.wait(timeout=300) for p in procs] == [0, 0]
    a, b = _totals(seq), _totals(par)
    assert a["stations"] and a["aps"] and a["events"] and a["findings"]
    assert a == b


def test_agent_and_ingest_writing_together_keep_both_counts(tmp_path: Path) -> None:
    """The agent's pipeline and an ingest both start from the same totals; each writes, and
    neither overwrites what the other counted."""
    cfg = Config.model_validate({"storage": {"data_dir": str(tmp_path / "d")}})
    db = tmp_path / "og.db"
    frames = [r for c in CAPS for r in read_records(pcap(c))]
    one = Store(db)
    two = Store(db)
    try:
        first = Pipeline(cfg, one)
        second = Pipeline(cfg, two)
        first.restore()
        second.restore()
        for ts, lt, data in frames:
            first.feed_raw(ts, lt, data)
            second.feed_raw(ts, lt, data)
        first.flush()
        second.flush()
    finally:
        one.close()
        two.close()
    single = tmp_path / "single.db"
    s = Store(single)
    try:
        p = Pipeline(cfg, s)
        p.restore()
        for ts, lt, data in frames:
            p.feed_raw(ts, lt, data)
        p.flush()
    finally:
        s.close()
    both, once = _totals(db), _totals(single)
    assert once["stations"] and once["aps"]
    assert both["stations"] == [(ip, mac, 2 * n) for ip, mac, n in once["stations"]]
    assert both["aps"] == [(b, 2 * x, 2 * y, 2 * z, 2 * w) for b, x, y, z, w in once["aps"]]


def test_processes_opening_a_new_database_at_once_all_succeed(tmp_path: Path) -> None:
    """The first open migrates the new file; others at the same moment used to apply the same
    migrations again ("table already exists") and fail."""
    for round_ in range(3):
        db = tmp_path / f"new{round_}.db"
        procs = [subprocess.Popen([OFFICEGUARD, "ingest", str(pcap(CAPS[0])), "--db", str(db)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                 for _ in range(4)]
        assert [p.wait(timeout=300) for p in procs] == [0] * 4, f"round {round_}"
