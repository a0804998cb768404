"""In-place upgrades with rollback.

Layout: `<base>/venv` is a symlink to `<base>/releases/<stamp>`, one venv per release. An upgrade
builds the new release beside the running one, smoke-tests it, backs up the database, switches
the symlink atomically, restarts the services and waits for a healthy heartbeat. If anything
fails after the switch, the symlink goes back, the database backup is restored (the new release
may already have migrated it), and the old release is restarted. Nothing is changed before the
new release has installed and passed its smoke test.
"""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)
KEEP_RELEASES = 3


class UpgradeError(Exception):
    pass


@dataclass
class UpgradeResult:
    ok: bool
    previous: str
    current: str
    rolled_back: bool
    detail: str


def pip_installer(release: Path, source: Path, offline: bool) -> None:
    """Build a venv at RELEASE and install officeguard from a wheel or a folder of wheels."""
    subprocess.run(["python3", "-m", "venv", str(release)], check=True, capture_output=True)
    cmd = [str(release / "bin" / "pip"), "install", "-q", "--disable-pip-version-check"]
    if offline:
        cmd.append("--no-index")
    cmd += ["--find-links", str(source), "officeguard"] if source.is_dir() else [str(source)]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        raise UpgradeError(f"pip could not install {source}: {res.stderr.strip()[-500:]}")


def _switch(link: Path, target: Path) -> None:
    tmp = link.with_name(link.name + ".new")
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(target)
    os.replace(tmp, link)  # atomic: the units never see a missing venv


def _backup(db: Path, dest: Path) -> None:
    src = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    out = sqlite3.connect(dest)
    with out:
        src.backup(out)
    src.close()
    out.close()


def _restore(backup: Path, db: Path) -> None:
    for suffix in ("-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    shutil.copy2(backup, db)


def upgrade(base: Path, source: Path, db: Path | None, config_file: Path | None,
            healthy: Callable[[], bool], restart: Callable[[], None] | None,
            installer: Callable[[Path, Path, bool], None] = pip_installer,
            offline: bool = False) -> UpgradeResult:
    link = base / "venv"
    releases = base / "releases"
    releases.mkdir(parents=True, exist_ok=True)
    if link.exists() and not link.is_symlink():  # a first install: adopt it as a release
        adopted = releases / "initial"
        os.replace(link, adopted)
        link.symlink_to(adopted)
    previous = link.resolve() if link.exists() else None
    new = releases / time.strftime("%Y%m%dT%H%M%S")
    if new.exists():
        new = new.with_name(new.name + f"-{os.getpid()}")
    try:
        installer(new, source, offline)
        exe = new / "bin" / "officeguard"
        res = subprocess.run([str(exe), "--version"], capture_output=True, text=True)
        if res.returncode != 0:
            raise UpgradeError(f"the new release does not start: {res.stderr.strip()[-300:]}")
        if config_file and config_file.exists():
            res = subprocess.run([str(exe), "validate-config", str(config_file)],
                                 capture_output=True, text=True)
            if res.returncode != 0:
                raise UpgradeError("the new release rejects the configuration: "
                                   + res.stderr.strip()[-300:])
    except (UpgradeError, subprocess.CalledProcessError, OSError) as exc:
        shutil.rmtree(new, ignore_errors=True)
        raise UpgradeError(f"upgrade not applied, nothing changed: {exc}") from exc
    backup = None
    if db is not None and db.exists():
        backup = db.with_name(f"{db.name}.pre-upgrade-{new.name}.bak")
        _backup(db, backup)
    _switch(link, new)
    ok, why = True, "healthy"
    try:
        if restart:
            restart()
        if not healthy():
            ok, why = False, "the new release did not report healthy"
    except Exception as exc:  # noqa: BLE001 - any failure after the switch means roll back
        ok, why = False, f"restart failed: {exc}"
    if ok:
        _prune(releases, keep={new, previous})
        return UpgradeResult(True, str(previous), str(new), False, why)
    log.error("upgrade failed (%s): rolling back to %s", why, previous)
    if previous is not None:
        _switch(link, previous)
    if backup is not None and db is not None:
        _restore(backup, db)
    if restart:
        restart()
    return UpgradeResult(False, str(previous), str(previous), True, why)


def _prune(releases: Path, keep: set[Path | None]) -> None:
    all_ = sorted((p for p in releases.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime)
    for p in all_[:-KEEP_RELEASES]:
        if p not in keep:
            shutil.rmtree(p, ignore_errors=True)


def systemd_restart() -> None:
    subprocess.run(["systemctl", "restart", "officeguard-agent.service",
                    "officeguard-web.service"], check=True, capture_output=True, timeout=180)


def heartbeat_after(db: Path, since: float, timeout: float) -> Callable[[], bool]:
    """Healthy = the agent wrote a running heartbeat with no store error after `since`."""
    import json
    from datetime import datetime

    from appliance.store import meta

    def check() -> bool:
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
                row = meta.get(conn, meta.AGENT)
                conn.close()
            except sqlite3.Error:
                row = None
            if row:
                doc = json.loads(row)
                beat = datetime.fromisoformat(doc["heartbeat_at"]).timestamp()
                if beat > since and doc.get("running") and not doc.get("store_error"):
                    return True
            time.sleep(1)
        return False

    return check
