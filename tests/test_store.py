from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest

from appliance import schema
from appliance import store as store_mod
from appliance.findings import FindingDraft, apply_drafts
from appliance.store import Store, StoreError


def test_migrations_apply_once_and_wal(tmp_path: Path) -> None:
    p = tmp_path / "a.db"
    names = [n for n, _ in schema.MIGRATIONS]
    assert store_mod.migrate(p) == names
    assert store_mod.migrate(p) == []
    conn = sqlite3.connect(p)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"stations", "events", "findings", "finding_history", "outbox", "meta",
            "access_points", "rssi_minutes", "surveys", "survey_samples"} <= tables


def test_tables_are_strict(fresh_store: Store) -> None:
    with pytest.raises(StoreError):
        fresh_store.write(lambda c: c.execute(
            "INSERT INTO stations (ip, mac, first_seen, last_seen, frames) "
            "VALUES ('1', 'm', 'yesterday', 0, 0)"))


def test_backup_before_a_new_migration(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    p = tmp_path / "b.db"
    with Store(p) as s:
        s.write(lambda c: c.execute("INSERT INTO meta VALUES ('k', 'before')"))
    extra = (*schema.MIGRATIONS, ("0002_test", "CREATE TABLE t2 (x INTEGER) STRICT;"))
    monkeypatch.setattr(store_mod, "MIGRATIONS", extra)
    assert store_mod.migrate(p) == ["0002_test"]
    backup = tmp_path / "b.db.pre-0002_test.bak"
    assert backup.exists()
    old = sqlite3.connect(backup)
    assert old.execute("SELECT value FROM meta WHERE key='k'").fetchone()[0] == "before"
    assert not old.execute("SELECT 1 FROM sqlite_master WHERE name='t2'").fetchone()


def test_failed_migration_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    p = tmp_path / "c.db"
    store_mod.migrate(p)
    bad = (*schema.MIGRATIONS, ("0002_bad", "CREATE TABLE ok (x INTEGER) STRICT; SELEC nonsense;"))
    monkeypatch.setattr(store_mod, "MIGRATIONS", bad)
    with pytest.raises(StoreError):
        store_mod.migrate(p)
    conn = sqlite3.connect(p)
    assert not conn.execute("SELECT 1 FROM sqlite_master WHERE name='ok'").fetchone()
    applied = [r[0] for r in conn.execute("SELECT name FROM _migrations ORDER BY name")]
    assert applied == [n for n, _ in schema.MIGRATIONS]


def _draft(**kw: object) -> FindingDraft:
    base: dict[str, object] = dict(rule="t.rule", measure="3-8", severity="high", subject="s",
                                   title_ja="t", title_en="t", ts=1000.0)
    base.update(kw)
    return FindingDraft(**base)  # type: ignore[arg-type]


def test_finding_history_and_outbox_share_one_transaction(fresh_store: Store) -> None:
    def boom(conn: sqlite3.Connection) -> None:
        apply_drafts(conn, [_draft()])
        raise RuntimeError("crash after the finding was written")

    with pytest.raises(RuntimeError):
        fresh_store.write(boom)
    for table in ("findings", "finding_history", "outbox"):
        assert fresh_store.query(f"SELECT COUNT(*) AS n FROM {table}")[0]["n"] == 0
    fresh_store.write(lambda c: apply_drafts(c, [_draft()]))
    for table in ("findings", "finding_history", "outbox"):
        assert fresh_store.query(f"SELECT COUNT(*) AS n FROM {table}")[0]["n"] == 1


def test_readers_are_not_blocked_by_a_long_write(fresh_store: Store) -> None:
    fresh_store.write(lambda c: c.execute("INSERT INTO meta VALUES ('k', 'v1')"))
    in_write = threading.Event()
    release = threading.Event()

    def slow(conn: sqlite3.Connection) -> None:
        conn.execute("UPDATE meta SET value = 'v2' WHERE key = 'k'")
        in_write.set()
        release.wait(5)

    fut = fresh_store.submit(slow)
    assert in_write.wait(5)
    t0 = time.monotonic()
    rows = fresh_store.query("SELECT value FROM meta WHERE key = 'k'")
    assert time.monotonic() - t0 < 1.0
    assert rows[0]["value"] == "v1"  # the uncommitted write is invisible, and nothing waits
    release.set()
    fut.result(5)
    assert fresh_store.get_meta("k") == "v2"


def test_all_writes_run_on_one_thread(fresh_store: Store) -> None:
    seen: set[int] = set()

    def note(_c: sqlite3.Connection) -> None:
        seen.add(threading.get_ident())

    threads = [threading.Thread(target=lambda: fresh_store.write(note)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(seen) == 1
    assert threading.get_ident() not in seen


def test_not_a_database_is_a_clear_error(tmp_path: Path) -> None:
    p = tmp_path / "junk.db"
    p.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="not a usable OfficeGuard database|not a database"):
        Store(p)
