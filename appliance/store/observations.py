"""SQL of what the sensors observed: `stations` (the arpwatch table), `events` (merged while the
same event repeats), `rssi_minutes` (the facility's signal per minute) and `passive_hints`
(OS and device hints heard in DHCP, mDNS, LLMNR, NetBIOS). The pipeline aggregates in memory
and writes a batch through these, inside the writer's transaction. Access points are the Wi-Fi
state's (appliance/store/aps.py)."""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any


def _rows(cur: sqlite3.Cursor) -> list[dict[str, Any]]:
    names = [d[0] for d in cur.description]
    return [dict(zip(names, tuple(r), strict=True)) for r in cur]


# -- writes (the pipeline's flush) ---------------------------------------------------------------


def write_stations(conn: sqlite3.Connection, stations: Sequence[tuple[Any, ...]]) -> None:
    """(ip, mac, vendor, randomized, first_seen, last_seen, frames) rows added to the totals."""
    conn.executemany(
        "INSERT INTO stations (ip, mac, vendor, randomized, first_seen, last_seen, frames) "
        "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (ip, mac) DO UPDATE SET "
        "vendor = excluded.vendor, randomized = excluded.randomized, "
        "first_seen = MIN(first_seen, excluded.first_seen), "
        "last_seen = MAX(last_seen, excluded.last_seen), frames = frames + excluded.frames",
        stations)


def merge_event(conn: sqlite3.Connection, kind: str, sensor: str, ts: float, last_ts: float,
                count: int, subject: str, detail: str, merge_s: float) -> None:
    """The same event about the same subject within MERGE_S of the last one is counted on that
    row; otherwise a new row."""
    prev = conn.execute(
        "SELECT id FROM events WHERE kind = ? AND subject = ? AND last_ts BETWEEN ? AND ? "
        "ORDER BY id DESC LIMIT 1", (kind, subject, ts - merge_s, ts)).fetchone()
    if prev is not None:
        conn.execute("UPDATE events SET last_ts = MAX(last_ts, ?), count = count + ?, "
                     "detail = ? WHERE id = ?", (last_ts, count, detail, prev[0]))
    else:
        conn.execute("INSERT INTO events (kind, sensor, ts, last_ts, count, subject, detail) "
                     "VALUES (?, ?, ?, ?, ?, ?, ?)",
                     (kind, sensor, ts, last_ts, count, subject, detail))


_EV_STAGE = "CREATE TEMP TABLE IF NOT EXISTS _ev_rows (kind, subject, ts)"


def merge_events(conn: sqlite3.Connection, rows: Sequence[Sequence[Any]], merge_s: float
                 ) -> None:
    """`merge_event` for each (kind, sensor, ts, last_ts, count, subject, detail) row, in
    order, with the same outcome (rows, counts and ids). A row that cannot merge (its kind and
    subject appear once in ROWS, and the table has no row of them within MERGE_S before it)
    is inserted with its neighbours in one executemany; one query over a staged copy finds
    them, instead of a SELECT per row (5,000 new APs' events: two statements each)."""
    if not rows:
        return
    keys = [(r[0], r[5]) for r in rows]
    repeated = {k for k, n in Counter(keys).items() if n > 1}
    conn.execute(_EV_STAGE)
    conn.executemany("INSERT INTO temp._ev_rows VALUES (?, ?, ?)",
                     [(r[0], r[5], r[2]) for r in rows])
    mergeable = repeated | {(r[0], r[1]) for r in conn.execute(
        "SELECT DISTINCT s.kind, s.subject FROM temp._ev_rows s WHERE EXISTS (SELECT 1 FROM "
        "events e WHERE e.kind = s.kind AND e.subject = s.subject AND e.last_ts BETWEEN "
        "s.ts - ? AND s.ts)", (merge_s,))}
    conn.execute("DELETE FROM temp._ev_rows")
    fresh: list[Sequence[Any]] = []
    for key, row in zip(keys, rows, strict=True):
        if key not in mergeable:
            fresh.append(row)
            continue
        if fresh:  # written first: ids stay in the rows' order
            _insert_events(conn, fresh)
            fresh = []
        kind, sensor, ts, last_ts, count, subject, detail = row
        merge_event(conn, kind, sensor, ts, last_ts, count, subject, detail, merge_s)
    _insert_events(conn, fresh)


def _insert_events(conn: sqlite3.Connection, rows: Sequence[Sequence[Any]]) -> None:
    conn.executemany("INSERT INTO events (kind, sensor, ts, last_ts, count, subject, detail) "
                     "VALUES (?, ?, ?, ?, ?, ?, ?)", rows)


def write_rssi(conn: sqlite3.Connection, rows: Sequence[tuple[Any, ...]]) -> None:
    """(bssid, minute, min, max, sum, n) rows added to each minute's totals."""
    conn.executemany(
        "INSERT INTO rssi_minutes (bssid, minute, min, max, sum, n) VALUES (?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (bssid, minute) DO UPDATE SET min = MIN(min, excluded.min), "
        "max = MAX(max, excluded.max), sum = sum + excluded.sum, n = n + excluded.n", rows)


def write_hints(conn: sqlite3.Connection, rows: Sequence[tuple[Any, ...]]) -> None:
    """(mac, source, ip, family, device_class, hostname, evidence, first_seen, last_seen) rows;
    an empty IP keeps the one known."""
    conn.executemany(
        "INSERT INTO passive_hints (mac, source, ip, family, device_class, hostname, evidence, "
        "first_seen, last_seen) VALUES (?,?,?,?,?,?,?,?,?) ON CONFLICT (mac, source) DO UPDATE "
        "SET ip = CASE WHEN excluded.ip != '' THEN excluded.ip ELSE passive_hints.ip END, "
        "family = excluded.family, device_class = excluded.device_class, "
        "hostname = excluded.hostname, evidence = excluded.evidence, "
        "first_seen = MIN(passive_hints.first_seen, excluded.first_seen), "
        "last_seen = MAX(passive_hints.last_seen, excluded.last_seen)", rows)


# -- reads -----------------------------------------------------------------------------------


def station(conn: sqlite3.Connection, ip: str, mac: str) -> dict[str, Any] | None:
    rows = _rows(conn.execute("SELECT * FROM stations WHERE ip = ? AND mac = ?", (ip, mac)))
    return rows[0] if rows else None


def stations_since(conn: sqlite3.Connection, since: float) -> dict[str, str]:
    """IP -> MAC of the stations seen since SINCE (the latest MAC of an IP wins)."""
    return {str(ip): str(mac) for ip, mac in conn.execute(
        "SELECT ip, mac FROM stations WHERE last_seen >= ? ORDER BY last_seen", (since,))}


def stations_last_seen(conn: sqlite3.Connection, since: float) -> dict[str, float]:
    """IP -> when the sensors last saw any station at that address, for those seen since SINCE
    (the evidence that a guest is on the network now: 3-⑤ needs a peer that is there)."""
    return {str(ip): float(ts) for ip, ts in conn.execute(
        "SELECT ip, MAX(last_seen) FROM stations WHERE last_seen >= ? GROUP BY ip", (since,))}


def latest_minute(conn: sqlite3.Connection, bssids: Sequence[str]) -> float | None:
    """When the newest signal reading of these BSSIDs was taken (capture time, seconds)."""
    if not bssids:
        return None
    marks = ",".join("?" * len(bssids))
    row = conn.execute(f"SELECT MAX(minute) FROM rssi_minutes WHERE bssid IN ({marks})",  # noqa: S608
                       list(bssids)).fetchone()
    return float(row[0]) * 60 if row and row[0] is not None else None


def rssi_series(conn: sqlite3.Connection, bssid: str, since: float) -> list[tuple[float, float]]:
    """(time, mean dBm) of each minute of BSSID since SINCE."""
    return [(float(r[0]), float(r[1])) for r in conn.execute(
        "SELECT minute * 60.0, CAST(sum AS REAL) / n FROM rssi_minutes "
        "WHERE bssid = ? AND minute * 60.0 >= ? AND n > 0 ORDER BY minute", (bssid, since))]


def os_hint(conn: sqlite3.Connection, mac: str) -> dict[str, Any] | None:
    """The latest OS family hint heard from MAC: family, source, hostname, evidence."""
    rows = _rows(conn.execute(
        "SELECT family, source, hostname, evidence FROM passive_hints WHERE mac = ? AND "
        "family != '' ORDER BY last_seen DESC LIMIT 1", (mac,)))
    return rows[0] if rows else None


def counts(conn: sqlite3.Connection) -> dict[str, int]:
    """How many stations and events the store holds."""
    return {"stations": int(conn.execute("SELECT COUNT(*) FROM stations").fetchone()[0]),
            "events": int(conn.execute("SELECT COUNT(*) FROM events").fetchone()[0])}


def all_stations(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """Every station's totals (to rebuild the LAN state at start)."""
    return _rows(conn.execute("SELECT ip, mac, vendor, randomized, first_seen, last_seen, "
                              "frames FROM stations"))


def stations_in_period(conn: sqlite3.Connection, t0: float, t1: float) -> list[dict[str, Any]]:
    """Every column of the stations seen between T0 and T1, by IP then MAC (the export)."""
    return _rows(conn.execute("SELECT * FROM stations WHERE first_seen < ? AND last_seen >= ? "
                              "ORDER BY ip, mac", (t1, t0)))


def macs_of(conn: sqlite3.Connection, ips: Iterable[str]) -> set[str]:
    """The MACs seen at these IPs."""
    ips = tuple(ips)
    return {r[0] for r in conn.execute(
        "SELECT mac FROM stations WHERE ip IN ({})".format(  # noqa: S608 - placeholders
            ",".join("?" * len(ips)) or "''"), ips)}


def latest_station_seen(conn: sqlite3.Connection) -> float | None:
    """When any station was last seen (None: none recorded)."""
    r = conn.execute("SELECT MAX(last_seen) FROM stations").fetchone()
    return r[0] if r else None
