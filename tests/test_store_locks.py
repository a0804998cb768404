"""Two stores on one file in one process (`officeguard run` holds the agent's and the web's)
must not cost SQLite its locks: opening the second once made another process's last close
checkpoint and delete the WAL under the first, whose next write was then lost ("disk I/O
error" for every later reader)."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

from appliance.store import Store


def _other_process_writes(db: Path, key: str) -> None:
    code = ("import sqlite3, sys\n"
            "c = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
            "c.execute('PRAGMA busy_timeout = 5000')\n"
            "c.execute(\"INSERT INTO meta (key, value) VALUES (?, 'x')\", (sys.argv[2],))\n"
            "c.close()\n")
    subprocess.run([sys.executable, "-c", code, str(db), key], check=True, timeout=60)


def test_a_second_store_in_the_process_keeps_the_first_ones_writes(tmp_path: Path) -> None:
    db = tmp_path / "officeguard.db"
    with Store(db) as first:
        first.write(lambda c: c.execute("INSERT INTO meta (key, value) VALUES ('a', 'x')"))
        Store(db).close()  # e.g. the web opening its store beside the agent's
        _other_process_writes(db, "b")
        assert first.read_with(lambda c: c.execute(
            "SELECT count(*) FROM meta WHERE key IN ('a', 'b')").fetchone()[0]) == 2
        first.write(lambda c: c.execute("INSERT INTO meta (key, value) VALUES ('c', 'x')"))
        fresh = sqlite3.connect(db)
        try:
            keys = {r[0] for r in fresh.execute("SELECT key FROM meta")}
            assert {"a", "b", "c"} <= keys
            assert fresh.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        finally:
            fresh.close()
    # and after both are closed, nothing of it is lost
    again = sqlite3.connect(db)
    try:
        assert {"a", "b", "c"} <= {r[0] for r in again.execute("SELECT key FROM meta")}
    finally:
        again.close()
