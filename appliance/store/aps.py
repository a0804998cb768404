"""The `access_points` table: the Wi-Fi sensor's inventory, saved and restored.

Rows are tuples in `COLUMNS` order. The counters (`COUNTERS`) are written as their growth since
the last write and added in SQL, so two writers (an ingest beside the live agent) keep each
other's counts; the RSSI extremes and the first/last sighting are merged with MIN/MAX; every
other column takes the newest value.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

COLUMNS = (
    "bssid", "ssid", "ssid_hex", "hidden", "channel", "frequency_mhz", "band", "security", "akm",
    "pairwise", "group_cipher", "pmf", "privacy", "wps", "vendor", "randomized", "country",
    "tx_power_dbm", "phy", "rssi_min", "rssi_max", "rssi_sum", "rssi_n", "rssi_last", "beacons",
    "probe_responses", "malformed_frames", "profiles", "channels_seen", "first_seen",
    "last_seen",
)

# counters written as growth and added in SQL (the rest: latest value, or MIN/MAX)
COUNTERS = ("rssi_sum", "rssi_n", "beacons", "probe_responses", "malformed_frames")
COUNTER_IDX = tuple(COLUMNS.index(c) for c in COUNTERS)

_MERGE = {c: f"{c} = {c} + excluded.{c}" for c in COUNTERS} | {
    "rssi_min": "rssi_min = MIN(COALESCE(rssi_min, excluded.rssi_min), "
                "COALESCE(excluded.rssi_min, rssi_min))",
    "rssi_max": "rssi_max = MAX(COALESCE(rssi_max, excluded.rssi_max), "
                "COALESCE(excluded.rssi_max, rssi_max))",
    "first_seen": "first_seen = MIN(first_seen, excluded.first_seen)",
    "last_seen": "last_seen = MAX(last_seen, excluded.last_seen)"}
STAGE_ROWS = 500  # rows per statement: the staging table (in memory) stays small
_STAGE = f"CREATE TEMP TABLE IF NOT EXISTS _ap_rows ({', '.join(COLUMNS)})"
_STAGE_ROW = f"INSERT INTO temp._ap_rows VALUES ({', '.join('?' for _ in COLUMNS)})"  # noqa: S608
_UPSERT = (
    f"INSERT INTO access_points ({', '.join(COLUMNS)}) "  # noqa: S608 - fixed columns
    f"SELECT {', '.join(COLUMNS)} FROM temp._ap_rows WHERE true ORDER BY rowid "
    "ON CONFLICT (bssid) DO UPDATE SET "
    + ", ".join(_MERGE.get(c, f"{c} = excluded.{c}") for c in COLUMNS[1:]))


def upsert(conn: sqlite3.Connection, rows: list[tuple[Any, ...]]) -> None:
    """Write ROWS (COLUMNS order; counters as growth since the last write), in their order.

    The rows are staged in a temporary table and written with one statement per STAGE_ROWS:
    the search index's triggers then run inside a few statements. FTS5 flushes its pending
    terms at the end of every statement that writes to it, so 5,000 new APs written as 5,000
    INSERTs cost 0.2 s more than the rows, and as ten INSERT ... SELECT 0.03 s (bench_wifi's
    ingest: its last write)."""
    if rows:
        conn.execute(_STAGE)
    for i in range(0, len(rows), STAGE_ROWS):
        conn.executemany(_STAGE_ROW, rows[i:i + STAGE_ROWS])
        conn.execute(_UPSERT)
        conn.execute("DELETE FROM temp._ap_rows")


def delete(conn: sqlite3.Connection, bssids: Iterable[str]) -> None:
    """Remove these BSSIDs (a beacon flood's fakes withdrawn from the inventory)."""
    conn.executemany("DELETE FROM access_points WHERE bssid = ?", [(b,) for b in sorted(bssids)])


def load_all(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """Every saved AP as a dict of its columns (to rebuild the sensor's state at start)."""
    cur = conn.execute(f"SELECT {', '.join(COLUMNS)} FROM access_points")  # noqa: S608
    return [dict(zip(COLUMNS, r, strict=True)) for r in cur]


def _rows(cur: sqlite3.Cursor) -> list[dict[str, Any]]:
    names = [d[0] for d in cur.description]
    return [dict(zip(names, tuple(r), strict=True)) for r in cur]


def in_period(conn: sqlite3.Connection, t0: float, t1: float) -> list[dict[str, Any]]:
    """Every column of the APs seen between T0 and T1, by SSID then BSSID (the export)."""
    return _rows(conn.execute("SELECT * FROM access_points WHERE first_seen < ? AND "
                              "last_seen >= ? ORDER BY ssid, bssid", (t1, t0)))


def bssids(conn: sqlite3.Connection) -> set[str]:
    """The BSSID of every saved AP."""
    return {r[0] for r in conn.execute("SELECT bssid FROM access_points")}


def listing(conn: sqlite3.Connection, limit: int = 500) -> list[dict[str, Any]]:
    """The dashboard's AP list: the newest sighting first."""
    return _rows(conn.execute(
        "SELECT bssid, ssid, ssid_hex, hidden, channel, band, security, pmf, "
        "wps, vendor, rssi_last, rssi_min, rssi_max, rssi_sum, rssi_n, "
        "last_seen FROM access_points ORDER BY last_seen DESC LIMIT ?", (limit,)))


def facility_seen(conn: sqlite3.Connection, names: Sequence[str], bssids: Sequence[str],
                  since: float) -> list[dict[str, Any]]:
    """The newest 200 sightings since SINCE of APs named NAMES or with BSSIDS (bssid, ssid,
    security, last_seen)."""
    marks_n = ",".join("?" * len(names)) or "''"
    marks_b = ",".join("?" * len(bssids)) or "''"
    q = (f"SELECT bssid, ssid, security, last_seen FROM access_points "  # noqa: S608
         f"WHERE (ssid IN ({marks_n}) OR bssid IN ({marks_b})) AND last_seen >= ? "
         "ORDER BY last_seen DESC LIMIT 200")
    return _rows(conn.execute(q, (*names, *bssids, since)))


def latest_seen(conn: sqlite3.Connection) -> float | None:
    """When any AP was last seen (None: none saved)."""
    r = conn.execute("SELECT MAX(last_seen) FROM access_points").fetchone()
    return r[0] if r else None
