"""Every runtime dependency installs on a Raspberry Pi without a compiler.

The appliance runs CPython 3.11 on aarch64 (Raspberry Pi OS bookworm, glibc 2.36) and has no
gcc or Python headers. pip resolves the whole dependency tree *for that platform* with
`--only-binary=:all:` from the package registry: each dependency (direct or transitive) must come
as a manylinux aarch64 wheel for cp311 (or abi3, or pure Python). A dependency that has none would
need a compiler on the device; the test names it and the fix. Needs the package registry; skipped
with the reason when it cannot be reached.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tomllib
from pathlib import Path
from urllib.parse import urlparse

import pytest

from tests.conftest import ROOT

PLATFORM = ["--platform", "manylinux_2_17_aarch64", "--platform", "manylinux_2_28_aarch64",
            "--platform", "manylinux2014_aarch64", "--python-version", "3.11",
            "--implementation", "cp", "--abi", "cp311", "--abi", "abi3", "--abi", "none"]
# a wheel tag the Pi can install: its glibc is 2.36, so manylinux up to 2_36
PI_TAGS = ("manylinux2014_aarch64", "manylinux_2_17_aarch64", "manylinux_2_28_aarch64",
           "-none-any")


def runtime_requirements() -> list[str]:
    with (ROOT / "pyproject.toml").open("rb") as f:
        return list(tomllib.load(f)["project"]["dependencies"])


def registry_reachable() -> tuple[bool, str]:
    host = urlparse(os.environ.get("PIP_INDEX_URL", "https://pypi.org/simple")).hostname
    try:
        socket.create_connection((host or "pypi.org", 443), timeout=15).close()
    except OSError as exc:
        return False, f"the package registry {host} is unreachable ({exc})"
    return True, ""


def pip_resolve(reqs: list[str], tmp: Path, deps: bool = True
                ) -> subprocess.CompletedProcess[str]:
    report = tmp / "report.json"
    report.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed",
           "--disable-pip-version-check", "--only-binary=:all:", *PLATFORM,
           "--target", str(tmp / "target"), "--report", str(report), *reqs]
    if not deps:
        cmd.insert(4, "--no-deps")
    return subprocess.run(cmd, capture_output=True, text=True, timeout=900)


@pytest.mark.slow
def test_every_runtime_dependency_has_an_aarch64_cp311_wheel(tmp_path: Path) -> None:
    ok, why = registry_reachable()
    if not ok:
        pytest.skip(why)
    reqs = runtime_requirements()
    res = pip_resolve(reqs, tmp_path)
    if res.returncode != 0:
        # name each one that has no wheel for the Pi, so the failure says what to fix
        missing = [r for r in reqs if pip_resolve([r], tmp_path, deps=False).returncode != 0]
        pytest.fail(
            "these runtime dependencies have no aarch64 wheel for CPython 3.11, so installing "
            f"them on a Raspberry Pi would need a compiler: {missing or '(a transitive one)'}; "
            "fix: a maintained fork that ships aarch64 wheels (as netifaces → netifaces-plus), "
            "or take Raspberry Pi OS's python3-… package in image-build/install.sh.\n"
            + res.stderr[-2000:])
    installed = json.loads((tmp_path / "report.json").read_text())["install"]
    names = {i["metadata"]["name"].lower().replace("_", "-") for i in installed}
    for req in reqs:  # each direct dependency is in the resolved set...
        name = req.split(";")[0].split(">")[0].split("<")[0].split("=")[0].split("[")[0]
        assert name.strip().lower() in names, (req, sorted(names))
    for item in installed:  # ...and every file chosen is a wheel a Pi can install
        url = item["download_info"]["url"]
        file = url.rsplit("/", 1)[-1]
        assert file.endswith(".whl"), f"{item['metadata']['name']}: {file} is not a wheel"
        assert any(t in file for t in PI_TAGS), f"{file} is not for aarch64 / pure Python"
        assert "cp311" in file or "abi3" in file or "py3" in file or "py2.py3" in file, file
    print(f"\n{len(installed)} distributions, all with aarch64/pure wheels:",
          ", ".join(sorted(names)))


def test_netifaces_import_works_with_the_fork() -> None:
    """`import netifaces` is what the code uses; netifaces-plus provides it."""
    import netifaces

    assert "lo" in netifaces.interfaces()
    lo = netifaces.ifaddresses("lo")
    assert lo[netifaces.AF_INET][0]["addr"] == "127.0.0.1"
