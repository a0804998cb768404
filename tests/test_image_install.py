"""The image's install step on a fresh Debian bookworm root (debootstrap), as pi-gen runs it.

Slow (and networked the first time: the Debian archive; the base tree is then cached): opt-in
with `make test-image` (OFFICEGUARD_TEST_IMAGE=1; CI runs it after `make test`).
tests/test_image_boot.py boots the result.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import imagebed
from tests.conftest import ROOT

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.environ.get("OFFICEGUARD_TEST_IMAGE") != "1",
                       reason="run by make test-image (debootstrap, root, minutes)"),
]


def chroot(root: Path, *cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["chroot", str(root), *cmd], capture_output=True, text=True,
                          check=check, timeout=1800, env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
                                                          "LANG": "C.UTF-8"})


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    ok, why = imagebed.available()
    if not ok:
        pytest.skip(why)
    work = tmp_path_factory.mktemp("image")
    # a wheelhouse with every dependency, so the chroot installs offline (OFFLINE=1), and the
    # stage's packages first (the cached debootstrap), as pi-gen does
    with imagebed.timed("wheelhouse (officeguard + dependencies)"):
        wheels = imagebed.wheelhouse(work / "wheels")
    root = imagebed.installed_tree(work, wheels)
    shutil.copytree(wheels, root / "tmp" / "wheels")
    shutil.copytree(ROOT / "systemd", root / "tmp" / "systemd")
    subprocess.run(["mount", "-t", "proc", "proc", str(root / "proc")], check=True)
    try:
        yield root
    finally:
        subprocess.run(["umount", "-l", str(root / "proc")], check=False)


def test_venv_units_and_broker(installed: Path) -> None:
    root = installed
    out = chroot(root, "/opt/officeguard/venv/bin/officeguard", "--version").stdout
    assert out.startswith("officeguard ")
    for u in ("officeguard-agent.service", "officeguard-web.socket",
              "officeguard-firstboot.service"):
        assert (root / "etc/systemd/system" / u).exists(), u
    wants = {p.name for p in (root / "etc/systemd/system/multi-user.target.wants").iterdir()}
    assert {"officeguard-agent.service", "officeguard-firstboot.service"} <= wants
    timers = {p.name for p in (root / "etc/systemd/system/timers.target.wants").iterdir()}
    assert "officeguard-export.timer" in timers
    conf = (root / "etc/mosquitto/conf.d/officeguard.conf").read_text()
    assert "allow_anonymous false" in conf and "password_file" in conf
    assert "listener 8883" in conf and "certfile" in conf and "listener 1883" not in conf
    assert chroot(root, "id", "officeguard").returncode == 0
    assert (root / "etc/hostname").read_text().strip() == "officeguard"


def test_no_default_credentials_anywhere(installed: Path) -> None:
    root = installed
    # before first boot there is no secret at all...
    for p in ("etc/officeguard/mqtt-password", "etc/mosquitto/officeguard.passwd",
              "etc/officeguard/setup-code", "var/lib/officeguard/keys/export-signing.pem"):
        assert not (root / p).exists(), p
    # ...and nothing that looks like a default password in what was installed
    pattern = re.compile(r"(password|passwd|pass)\s*[=:]\s*['\"]?(admin|password|123456|"
                         r"changeme|officeguard|raspberry|secret)\b", re.I)
    for base in ("etc/officeguard", "etc/mosquitto", "etc/systemd/system"):
        for p in (root / base).rglob("*"):
            if p.is_file():
                assert not pattern.search(p.read_text(errors="replace")), p


def test_first_boot_makes_unique_credentials(installed: Path) -> None:
    root = installed
    first = chroot(root, "/opt/officeguard/venv/bin/officeguard", "firstboot", "--json").stdout
    import json

    a = json.loads(first)
    assert re.fullmatch(r"[2-9A-Z]{4}-[2-9A-Z]{4}-[2-9A-Z]{4}", a["setup_code"])
    assert (root / "etc/mosquitto/officeguard.passwd").exists()
    assert oct((root / "root/officeguard-first-boot.txt").stat().st_mode)[-3:] == "600"
    again = chroot(root, "/opt/officeguard/venv/bin/officeguard", "firstboot", check=False)
    assert again.returncode == 1 and "already ran" in again.stderr
    b = json.loads(chroot(root, "/opt/officeguard/venv/bin/officeguard", "firstboot", "--force",
                          "--json").stdout)
    assert a["mqtt_password"] != b["mqtt_password"] and a["setup_code"] != b["setup_code"]


def test_upgrade_in_place_with_real_pip(installed: Path) -> None:
    root = installed
    officeguard = "/usr/local/bin/officeguard"
    before = chroot(root, "readlink", "-f", "/opt/officeguard/venv").stdout.strip()
    res = chroot(root, officeguard, "upgrade", "/tmp/wheels", "--offline", "--no-restart",
                 "--json", check=False)
    assert res.returncode == 0, res.stderr
    after = chroot(root, "readlink", "-f", "/opt/officeguard/venv").stdout.strip()
    assert after != before and after.startswith("/opt/officeguard/releases/")
    assert chroot(root, officeguard, "--version").stdout.startswith("officeguard ")
    # a release that cannot even be installed changes nothing
    res = chroot(root, officeguard, "upgrade", "/tmp/systemd", "--offline", "--no-restart",
                 check=False)
    assert res.returncode == 1 and "nothing changed" in res.stderr
    assert chroot(root, "readlink", "-f", "/opt/officeguard/venv").stdout.strip() == after
