"""Upgrades: the switch, the database backup, and the rollback, with real files and SQLite.

pip is the one edge replaced here (a release is a folder with a working `officeguard`);
`make test-image` upgrades a real install with real pip in a debootstrap chroot.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from appliance.store import Store
from appliance.upgrade import UpgradeError, upgrade


def fake_release(version: str, works: bool = True):  # noqa: ANN201
    def install(release: Path, _source: Path, _offline: bool) -> None:
        (release / "bin").mkdir(parents=True)
        exe = release / "bin" / "officeguard"
        body = (f'[ "$1" = --version ] && echo "officeguard {version}" && exit 0\nexit 0\n'
                if works else "echo broken >&2\nexit 1\n")
        exe.write_text("#!/bin/sh\n" + body)
        exe.chmod(0o755)
    return install


@pytest.fixture
def installed(tmp_path: Path) -> tuple[Path, Path]:
    base = tmp_path / "opt"
    (base / "venv").mkdir(parents=True)  # a first install: a plain venv folder
    fake_release("0.1.0")(base / "venv", tmp_path, False)
    db = tmp_path / "officeguard.db"
    with Store(db) as s:
        s.write(lambda c: c.execute("INSERT INTO meta VALUES ('k', 'v1')"))
    return base, db


def test_upgrade_switches_and_keeps_the_previous_release(installed: tuple[Path, Path],
                                                        tmp_path: Path) -> None:
    base, db = installed
    res = upgrade(base, tmp_path, db, None, lambda: True, None, fake_release("0.2.0"))
    assert res.ok and not res.rolled_back
    link = base / "venv"
    assert link.is_symlink() and link.resolve() == Path(res.current)
    assert Path(res.previous).name == "initial" and Path(res.previous).exists()
    assert list(tmp_path.glob("officeguard.db.pre-upgrade-*.bak"))


def test_a_broken_release_changes_nothing(installed: tuple[Path, Path], tmp_path: Path) -> None:
    base, db = installed
    upgrade(base, tmp_path, db, None, lambda: True, None, fake_release("0.2.0"))
    before = (base / "venv").resolve()
    with pytest.raises(UpgradeError, match="nothing changed"):
        upgrade(base, tmp_path, db, None, lambda: True, None, fake_release("0.3.0", works=False))
    assert (base / "venv").resolve() == before
    assert len(list((base / "releases").iterdir())) == 2  # the broken one was removed


def test_unhealthy_release_rolls_back_code_and_database(installed: tuple[Path, Path],
                                                        tmp_path: Path) -> None:
    base, db = installed
    first = upgrade(base, tmp_path, db, None, lambda: True, None, fake_release("0.2.0"))
    restarts: list[Path] = []

    def restart() -> None:  # the new release starts and migrates the database, then dies
        restarts.append((base / "venv").resolve())
        if len(restarts) == 1:
            conn = sqlite3.connect(db)
            conn.execute("CREATE TABLE from_the_future (x INTEGER)")
            conn.execute("UPDATE meta SET value = 'v2' WHERE key = 'k'")
            conn.commit()
            conn.close()

    res = upgrade(base, tmp_path, db, None, lambda: False, restart, fake_release("0.3.0"))
    assert not res.ok and res.rolled_back
    assert (base / "venv").resolve() == Path(first.current)
    assert restarts == [restarts[0], Path(first.current)]  # new one, then the old one again
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT value FROM meta WHERE key = 'k'").fetchone()[0] == "v1"
    assert not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'from_the_future'"
                            ).fetchone()
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()
