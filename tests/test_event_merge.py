"""`observations.merge_events` writes a batch of events with the outcome of `merge_event` row by
row (the same rows, counts, details and ids), while inserting the rows that cannot merge in one
go: checked on random batches against the row-by-row reference, with repeated subjects, clocks
that go back, and rows already in the table from earlier batches."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path
from typing import Any

from appliance.store import Store
from appliance.store import observations as obs

MERGE_S = 60.0


def _batch(rnd: random.Random, t0: float) -> list[tuple[Any, ...]]:
    rows = []
    for _ in range(rnd.randrange(1, 40)):
        ts = t0 + rnd.uniform(-90, 200)  # some before the last batch's: clocks go back
        kind = rnd.choice(["ap_confirmed", "ap_changed", "deauth_flood"])
        subject = f"02:00:5e:00:53:{rnd.randrange(12):02x}"
        rows.append((kind, "wifi", ts, ts + rnd.choice([0, 0, 5]), rnd.randrange(1, 4), subject,
                     f'{{"n": {rnd.randrange(100)}}}'))
    return rows


def _events(db: Path) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute("SELECT id, kind, sensor, ts, last_ts, count, subject, detail "
                            "FROM events ORDER BY id").fetchall()
    finally:
        conn.close()


def test_batched_merge_is_the_row_by_row_merge(tmp_path: Path) -> None:
    rnd = random.Random(11)
    batches = [_batch(rnd, 1_767_225_600.0 + 100 * i) for i in range(150)]
    fast, ref = Store(tmp_path / "fast.db"), Store(tmp_path / "ref.db")
    try:
        for rows in batches:
            fast.write(lambda c, rows=rows: obs.merge_events(c, rows, MERGE_S))

            def one_by_one(c: sqlite3.Connection, rows: list[tuple[Any, ...]] = rows) -> None:
                for kind, sensor, ts, last_ts, count, subject, detail in rows:
                    obs.merge_event(c, kind, sensor, ts, last_ts, count, subject, detail,
                                    MERGE_S)

            ref.write(one_by_one)
    finally:
        fast.close()
        ref.close()
    got, want = _events(tmp_path / "fast.db"), _events(tmp_path / "ref.db")
    assert got == want
    # the batches did both: merged rows (count above one) and rows inserted at once
    assert sum(r[5] for r in want) > len(want) > 150
