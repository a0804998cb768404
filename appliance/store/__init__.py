"""SQLite store: WAL, busy timeout, named migrations with a backup first, one writer thread.

All writes go through `Store.write(fn)`, which runs `fn(conn)` on the single writer thread inside
one IMMEDIATE transaction, so a finding, its history row and its outbox row land together or not
at all. Readers open their own connections and never block the writer (WAL).
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import sqlite3
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

from appliance.schema import MIGRATIONS
from appliance.store import meta, search

log = logging.getLogger(__name__)
T = TypeVar("T")

BUSY_TIMEOUT_MS = 5000


class StoreError(Exception):
    """The store cannot do what was asked; the message says why and what to do."""


def _connect(path: Path, readonly: bool = False) -> sqlite3.Connection:
    if readonly:
        uri = f"file:{path}?mode=ro"
        conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
    else:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


def _explain(exc: sqlite3.Error, path: Path) -> StoreError:
    text = str(exc)
    if "disk is full" in text or "disk I/O" in text:
        return StoreError(f"{path}: {text}: free space on the data disk (storage.data_dir)")
    if "readonly" in text or "unable to open" in text:
        return StoreError(f"{path}: {text}: check that the data folder exists and is writable")
    if "not a database" in text or "malformed" in text:
        return StoreError(f"{path}: {text}: the file is not a usable OfficeGuard database")
    return StoreError(f"{path}: {text}")


def applied_migrations(conn: sqlite3.Connection) -> list[str]:
    conn.execute(
        "CREATE TABLE IF NOT EXISTS _migrations "
        "(name TEXT PRIMARY KEY, applied_at REAL NOT NULL) STRICT"
    )
    return [r[0] for r in conn.execute("SELECT name FROM _migrations ORDER BY name")]


DB_MODE = 0o600


def _private_file(path: Path) -> None:
    """Create the database file 0600 before SQLite does (SQLite gives its -wal and -shm files
    the database file's mode); an existing one readable by every user is narrowed, loudly.
    It holds password hashes, session CSRF tokens and the audit log."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, DB_MODE)
        os.close(fd)
        return
    except FileExistsError:
        pass
    except OSError:
        return  # SQLite will name the problem
    for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        try:
            st = p.stat()
            if st.st_mode & 0o007:
                os.chmod(p, st.st_mode & 0o770)
                log.warning("%s was readable by every user; narrowed to %o", p,
                            st.st_mode & 0o770)
        except OSError:
            pass


def migrate(path: Path) -> list[str]:
    """Apply pending migrations; back the file up first when it already holds data. Two
    processes opening a new database at once take turns (an flock on a lock file beside it):
    the second sees what the first applied. Never a descriptor of the database file itself:
    closing one drops every POSIX lock this process holds on it, SQLite's included, so another
    process could checkpoint and delete the WAL under a connection still open here."""
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True, mode=0o750)
    _private_file(path)
    try:
        guard = os.open(path.with_name(path.name + ".migrate-lock"),
                        os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, DB_MODE)
    except OSError:
        guard = -1  # SQLite will name the problem
    try:
        if guard >= 0:
            fcntl.flock(guard, fcntl.LOCK_EX)
        return _migrate(path)
    finally:
        if guard >= 0:
            os.close(guard)


def _migrate(path: Path) -> list[str]:
    try:
        conn = _connect(path)
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            done = applied_migrations(conn)
            pending = [(n, sql) for n, sql in MIGRATIONS if n not in done]
            if pending and done:
                backup = path.with_name(f"{path.name}.pre-{pending[0][0]}.bak")
                _private_file(backup)
                dst = sqlite3.connect(backup)
                with dst:
                    conn.backup(dst)
                dst.close()
                log.info("backed up %s to %s before migrating", path, backup)
            for name, sql in pending:
                # One script, one transaction: the DDL and its bookkeeping row land together.
                script = (
                    f"BEGIN IMMEDIATE;\n{sql}\n"
                    f"INSERT INTO _migrations (name, applied_at) VALUES ('{name}', "
                    "(julianday('now') - 2440587.5) * 86400.0);\nCOMMIT;"
                )
                try:
                    conn.executescript(script)
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
                log.info("applied migration %s", name)
            # the full-text search index: built by sqlite-utils, not a SQL migration, and
            # checked on every open, so databases of every earlier version get it too
            indexed = search.ensure_index(conn)
            if indexed:
                log.info("built the search index of %s", ", ".join(indexed))
            return [n for n, _ in pending]
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise _explain(exc, path) from exc


_STOP = object()


@contextlib.contextmanager
def observation_lock(db_path: Path) -> Iterator[None]:
    """Held by an ingest from reading the totals it builds on to its last write, so two
    ingests at once give the same totals, events and finding counts as one after the other
    (each would otherwise start from the same totals and overwrite the other's). A lock file
    beside the database (0600); released when the process ends, however it ends."""
    import fcntl

    lock = db_path.with_name(db_path.name + ".ingest-lock")
    fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, DB_MODE)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info("another ingest is writing to %s; waiting for it to finish", db_path)
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


class Store:
    """The one writer of a database file, plus read helpers."""

    def __init__(self, path: str | Path, read_cache_kib: int = 0) -> None:
        """read_cache_kib: SQLite page cache of each reader connection (0: SQLite's 2 MiB);
        the web service keeps it small, having one reader per worker thread."""
        self.path = Path(path)
        self._read_cache_kib = read_cache_kib
        migrate(self.path)
        self._conn = _connect(self.path)
        self._conn.execute("PRAGMA journal_mode = WAL")
        # FULL: each batched commit is fsynced, so a power cut loses at most the open batch.
        self._conn.execute("PRAGMA synchronous = FULL")
        self._queue: queue.Queue[Any] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="store-writer", daemon=True)
        self._local = threading.local()
        self._thread.start()

    # -- writing ---------------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                break
            fn, fut = item
            if not fut.set_running_or_notify_cancel():
                continue
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    result = fn(self._conn)
                    self._conn.execute("COMMIT")
                except BaseException:
                    if self._conn.in_transaction:
                        self._conn.execute("ROLLBACK")
                    raise
                fut.set_result(result)
            except sqlite3.Error as exc:
                fut.set_exception(_explain(exc, self.path))
            except BaseException as exc:  # noqa: BLE001 - handed to the caller
                fut.set_exception(exc)

    def submit(self, fn: Callable[[sqlite3.Connection], T]) -> Future[T]:
        fut: Future[T] = Future()
        if not self._thread.is_alive():
            fut.set_exception(StoreError("the store is closed"))
            return fut
        self._queue.put((fn, fut))
        return fut

    def write(self, fn: Callable[[sqlite3.Connection], T], timeout: float = 60.0) -> T:
        return self.submit(fn).result(timeout)

    # -- reading ---------------------------------------------------------------------------
    def reader(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = _connect(self.path, readonly=True)
            if self._read_cache_kib:
                conn.execute(f"PRAGMA cache_size = -{int(self._read_cache_kib)}")
            self._local.conn = conn
        return conn

    def query(
        self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()
    ) -> list[dict[str, Any]]:
        try:
            return [dict(r) for r in self.reader().execute(sql, params)]
        except sqlite3.Error as exc:
            raise _explain(exc, self.path) from exc

    def read_with(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        try:
            return fn(self.reader())
        except sqlite3.Error as exc:
            raise _explain(exc, self.path) from exc

    def get_meta(self, key: str) -> str | None:
        return self.read_with(lambda c: meta.get(c, key))

    def close(self) -> None:
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join(timeout=30)
        self._conn.close()
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


set_meta = meta.put  # the old name (appliance/store/meta.py holds the meta rows' SQL)


def open_readonly(path: str | Path) -> sqlite3.Connection:
    p = Path(path)
    if not p.exists():
        raise StoreError(
            f"{p}: no database yet: run `officeguard run` or `officeguard ingest` first"
        )
    try:
        return _connect(p, readonly=True)
    except sqlite3.Error as exc:
        raise _explain(exc, p) from exc
