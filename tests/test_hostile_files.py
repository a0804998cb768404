"""Issue #14: attestation bounds and evidence files, file modes of the store and secrets."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from appliance.store import Store
from tests.conftest import OFFICEGUARD


def og(tmp: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    conf = tmp / "c.toml"
    if not conf.exists():
        conf.write_text(f'[storage]\ndata_dir = "{tmp / "data"}"\n')
    return subprocess.run([OFFICEGUARD, *args, "--config", str(conf)], capture_output=True,
                          text=True, timeout=timeout, cwd=tmp)


def test_absurd_valid_days_is_refused_and_nothing_is_written(tmp_path: Path) -> None:
    res = og(tmp_path, "attest", "1-1", "--valid-days", "9999999", "--note", "x")
    assert res.returncode != 0 and "Traceback" not in res.stderr
    assert "3650" in res.stderr
    ok = og(tmp_path, "attestations", "--json")
    assert ok.returncode == 0 and "Traceback" not in ok.stderr, ok.stderr


def test_an_old_row_with_absurd_validity_does_not_break_listing_or_export(tmp_path: Path
                                                                         ) -> None:
    assert og(tmp_path, "attest", "1-1", "--note", "policy").returncode == 0
    with Store(tmp_path / "data" / "officeguard.db") as store:
        store.write(lambda c: c.execute("UPDATE attestations SET valid_days = 9999999"))
    res = og(tmp_path, "attestations", "--json")
    assert res.returncode == 0, res.stderr
    assert '"invalid"' in res.stdout
    assert og(tmp_path, "compliance", "--json").returncode == 0
    res = og(tmp_path, "export", "--from", "2020-01-01", "--to", "2026-12-31",
             "--formats", "json,csv", timeout=300)
    assert res.returncode == 0, res.stderr


@pytest.mark.parametrize("kind", ["symlink", "dir-symlink", "fifo", "device", "directory"])
def test_evidence_must_be_a_real_regular_file(tmp_path: Path, kind: str) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("root:$6$hash\n")
    if kind == "symlink":
        target = tmp_path / "policy.pdf"
        target.symlink_to(secret)
    elif kind == "dir-symlink":
        (tmp_path / "real").mkdir()
        (tmp_path / "real" / "policy.pdf").write_bytes(b"%PDF")
        (tmp_path / "link").symlink_to(tmp_path / "real")
        target = tmp_path / "link" / "policy.pdf"
    elif kind == "fifo":
        target = tmp_path / "pipe"
        os.mkfifo(target)
    elif kind == "device":
        target = Path("/dev/zero")
    else:
        target = tmp_path
    # a FIFO or /dev/zero used to hang forever: the timeout here is the test's own limit
    res = og(tmp_path, "attest", "1-1", "--note", "x", "--evidence", str(target), timeout=60)
    assert res.returncode != 0 and "Traceback" not in res.stderr, res.stderr
    assert "symbolic link" in res.stderr or "regular file" in res.stderr, res.stderr
    ev = tmp_path / "data" / "evidence"
    assert not ev.exists() or not [p for p in ev.iterdir() if not p.name.startswith(".")]


def test_evidence_is_copied_under_its_hash(tmp_path: Path) -> None:
    f = tmp_path / "policy.pdf"
    f.write_bytes(b"%PDF-1.4 policy")
    res = og(tmp_path, "attest", "1-1", "--note", "x", "--evidence", str(f))
    assert res.returncode == 0, res.stderr
    stored = [p for p in (tmp_path / "data" / "evidence").iterdir()]
    assert len(stored) == 1 and stored[0].read_bytes() == b"%PDF-1.4 policy"
    assert stored[0].stat().st_mode & 0o077 == 0


def test_database_and_its_wal_are_private_outside_systemd(tmp_path: Path) -> None:
    old = os.umask(0o022)  # a login shell's usual umask: files would be 0644
    try:
        with Store(tmp_path / "d" / "og.db") as store:
            store.write(lambda c: c.execute(
                "INSERT INTO audit (ts, actor, action, detail) VALUES (1, 'a', 'b', 'c')"))
            for name in ("og.db", "og.db-wal", "og.db-shm"):
                mode = (tmp_path / "d" / name).stat().st_mode
                assert mode & 0o077 == 0, (name, oct(mode))
    finally:
        os.umask(old)


def test_an_old_world_readable_database_is_narrowed(tmp_path: Path) -> None:
    with Store(tmp_path / "og.db"):
        pass
    os.chmod(tmp_path / "og.db", 0o644)
    with Store(tmp_path / "og.db"):
        assert (tmp_path / "og.db").stat().st_mode & 0o007 == 0


def test_world_readable_secret_files_are_refused_with_the_fix(tmp_path: Path) -> None:
    from appliance.config import ConfigError, from_mapping

    pw = tmp_path / "mqtt-password"
    pw.write_text("s3cret\n")
    os.chmod(pw, 0o644)
    cfg = from_mapping({"mqtt": {"host": "127.0.0.1", "password_file": str(pw)}})
    with pytest.raises(ConfigError, match=f"chmod 640 {pw}"):
        cfg.mqtt_password()
    os.chmod(pw, 0o640)
    assert cfg.mqtt_password() == "s3cret"


def test_firstboot_keeps_the_broker_password_off_the_command_line(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch
                                                                   ) -> None:
    import shutil
    import subprocess as sp

    from appliance import firstboot

    if shutil.which("mosquitto_passwd") is None:
        pytest.skip("needs mosquitto_passwd (make test installs mosquitto)")
    seen: list[list[str]] = []
    real_run = sp.run

    def spy(cmd: list[str], *a: object, **kw: object) -> object:
        seen.append([str(x) for x in cmd])
        return real_run(cmd, *a, **kw)  # type: ignore[call-overload]

    monkeypatch.setattr(firstboot.subprocess, "run", spy)
    firstboot.run(tmp_path, hostname="officeguard")
    pw = (tmp_path / "etc/officeguard/mqtt-password").read_text().strip()
    calls = [c for c in seen if "mosquitto_passwd" in c[0]]
    assert calls and not any(pw in arg for c in calls for arg in c)
    line = (tmp_path / "etc/mosquitto/officeguard.passwd").read_text()
    assert line.startswith("officeguard:$7$") and pw not in line


def test_every_service_unit_has_memory_and_task_ceilings() -> None:
    units = sorted((Path(__file__).resolve().parent.parent / "systemd").glob("*.service"))
    assert len(units) >= 5
    for unit in units:
        text = unit.read_text()
        service = text.split("[Service]", 1)[1].split("\n[", 1)[0]
        mem = re.search(r"^MemoryMax=(\d+)M$", service, re.M)
        tasks = re.search(r"^TasksMax=(\d+)$", service, re.M)
        assert mem and tasks, unit.name
        assert 0 < int(mem.group(1)) <= 512 and 0 < int(tasks.group(1)) <= 256, unit.name
