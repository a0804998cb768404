"""Full-text search: what the index costs the writers, how long a search takes, how long the
index takes to build for an existing database.

    .venv/bin/python bench/bench_search.py [--aps 5000] [--stations 2000] [--findings 2000]

Writes: the same upserts of access points and stations (the agent's flush: every AP of the
batch updated) on two copies of one database, one with the search index and its triggers, one
without (triggers and *_fts tables dropped): the difference is what the triggers cost. Search:
`appliance.store.search.search` for an SSID, a MAC, an IP, a Japanese word and a two-character
word (the LIKE path), median of repeated runs. Build: `ensure_index` on a database of the
previous version holding the rows (what the first start of this version does).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from appliance.store import migrate  # noqa: E402
from appliance.store import search as fts  # noqa: E402


def connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    return conn


def fill(conn: sqlite3.Connection, aps: int, stations: int, findings: int) -> None:
    now = time.time()
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO access_points (bssid, ssid, ssid_hex, hidden, security, pmf, privacy, "
        "vendor, first_seen, last_seen) VALUES (?, ?, '', 0, 'WPA2', 'none', 1, 'Acme', ?, ?)",
        [(f"02:00:{i >> 16 & 255:02x}:{i >> 8 & 255:02x}:{i & 255:02x}:01", f"office-{i}",
          now, now) for i in range(aps)])
    conn.executemany(
        "INSERT INTO stations (ip, mac, vendor, first_seen, last_seen) VALUES (?, ?, ?, ?, ?)",
        [(f"198.51.100.{i % 254 + 1}", f"02:11:{i >> 8 & 255:02x}:"
          f"{i & 255:02x}:00:01", "Vendor Inc.", now, now) for i in range(stations)])
    conn.executemany(
        "INSERT INTO findings (rule, measure, severity, subject, status, title_ja, title_en, "
        "first_seen, last_seen, evidence, updated_at) VALUES ('wifi.weak', '3-3', 'high', ?, "
        "'open', '暗号化が弱いアクセスポイント', 'Weak encryption', ?, ?, ?, ?)",
        [(f"02:00:{i >> 16 & 255:02x}:{i >> 8 & 255:02x}:{i & 255:02x}:01", now, now,
          json.dumps({"ssid": f"office-{i}", "security": "WEP"}), now)
         for i in range(findings)])
    conn.execute("COMMIT")


def drop_index(conn: sqlite3.Connection) -> None:
    for t in fts.INDEXED:
        for suffix in ("_ai", "_ad", "_au"):
            conn.execute(f"DROP TRIGGER IF EXISTS {t}{suffix}")
        conn.execute(f"DROP TABLE IF EXISTS {t}_fts")


def flushes(conn: sqlite3.Connection, aps: int, stations: int, rounds: int) -> float:
    t0 = time.perf_counter()
    for r in range(rounds):
        now = time.time()
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(
            "INSERT INTO access_points (bssid, ssid, ssid_hex, hidden, security, pmf, privacy, "
            "first_seen, last_seen, beacons) VALUES (?, ?, '', 0, 'WPA2', 'none', 1, ?, ?, 10) "
            "ON CONFLICT (bssid) DO UPDATE SET ssid = excluded.ssid, "
            "beacons = beacons + excluded.beacons, last_seen = excluded.last_seen",
            [(f"02:00:{i >> 16 & 255:02x}:{i >> 8 & 255:02x}:{i & 255:02x}:01", f"office-{i}",
              now, now) for i in range(aps)])
        conn.executemany(
            "INSERT INTO stations (ip, mac, vendor, first_seen, last_seen, frames) "
            "VALUES (?, ?, 'Vendor Inc.', ?, ?, 1) ON CONFLICT (ip, mac) DO UPDATE SET "
            "last_seen = excluded.last_seen, frames = frames + 1",
            [(f"198.51.100.{i % 254 + 1}", f"02:11:{i >> 8 & 255:02x}:"
              f"{i & 255:02x}:00:01", now, now) for i in range(stations)])
        conn.execute("COMMIT")
        del r
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--aps", type=int, default=5000)
    ap.add_argument("--stations", type=int, default=2000)
    ap.add_argument("--findings", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=10)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        with_idx, without = Path(tmp) / "with.db", Path(tmp) / "without.db"
        migrate(with_idx)
        c = connect(with_idx)
        fill(c, a.aps, a.stations, a.findings)
        c.close()
        shutil.copy(with_idx, without)
        c = connect(without)
        drop_index(c)
        c.close()
        times = {}
        for name, path in (("without index", without), ("with index", with_idx)):
            c = connect(path)
            times[name] = flushes(c, a.aps, a.stations, a.rounds)
            c.close()
        per = {k: v / a.rounds for k, v in times.items()}
        rows = a.aps + a.stations
        print(f"flush of {a.aps} APs + {a.stations} stations (all updated), {a.rounds} rounds:")
        for k, v in per.items():
            print(f"  {k:14s} {v * 1000:8.1f} ms per flush ({v / rows * 1e6:.1f} µs per row)")
        print(f"  trigger cost   {(per['with index'] - per['without index']) / rows * 1e6:.1f}"
              " µs per updated row")
        c = connect(with_idx)
        print("search (median of 20):")
        for q in ("office-4242", "02:00:00:10:92:01", "198.51.100.201", "暗号化", "WE"):
            ts = []
            for _ in range(20):
                t0 = time.perf_counter()
                hits = fts.search(c, q)
                ts.append(time.perf_counter() - t0)
            print(f"  {q!r:22s} {statistics.median(ts) * 1000:7.2f} ms  {len(hits)} hits")
        c.close()
        c = connect(without)
        t0 = time.perf_counter()
        fts.ensure_index(c)
        print(f"index build on a database of the previous version ({rows + a.findings} rows): "
              f"{(time.perf_counter() - t0) * 1000:.0f} ms")
        c.close()
        print(f"database size with the index: {with_idx.stat().st_size / 1e6:.1f} MB, "
              f"without: {without.stat().st_size / 1e6:.1f} MB (after the flushes)")


if __name__ == "__main__":
    main()
