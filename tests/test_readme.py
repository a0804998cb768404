"""The README is the first thing a facility manager follows: its commands must run, and it must
not promise "later" what already exists."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from appliance.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
OFFICEGUARD = str(Path(sys.executable).parent / "officeguard")


def _blocks() -> list[str]:
    return re.findall(r"```(?:sh|bash|console)?\n(.*?)```", README, re.S)


def _commands() -> list[list[str]]:
    out = []
    for block in _blocks():
        for line in block.splitlines():
            line = line.split("  #")[0].strip()
            if line.startswith("officeguard "):
                out.append(shlex.split(line.replace("…", "x")))
    return out


def _subcommands() -> set[str]:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    return set(sub.choices)  # type: ignore[attr-defined]


def test_the_readme_shows_commands() -> None:
    assert len(_commands()) >= 10


@pytest.mark.parametrize("argv", _commands(), ids=lambda a: " ".join(a[:3]))
def test_every_readme_command_exists_and_parses(argv: list[str]) -> None:
    """Each command's --help runs (exit 0), and its options as written are accepted."""
    assert argv[1] in _subcommands(), f"README shows a command that does not exist: {argv}"
    res = subprocess.run([OFFICEGUARD, argv[1], "--help"], capture_output=True, text=True,
                         timeout=60)
    assert res.returncode == 0, res.stderr
    # every --option the README writes is one the command knows
    for opt in (a.split("=")[0] for a in argv[2:] if a.startswith("--")):
        assert opt in res.stdout, f"{' '.join(argv)}: {opt} is not an option of {argv[1]}"


def test_every_make_target_the_readme_names_exists() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    targets = set(re.findall(r"^([a-z][a-z-]*):", makefile, re.M))
    named = set(re.findall(r"`make ([a-z-]+)", README)) | set(
        re.findall(r"^make ([a-z-]+)", "\n".join(_blocks()), re.M))
    assert named, "the README names no make target"
    assert named <= targets, named - targets


def test_the_readme_says_how_to_reach_the_command() -> None:
    """`officeguard` lives in .venv/bin: the README must say so before using it bare."""
    first_use = README.index("officeguard ingest")
    assert ".venv/bin" in README[:first_use]


def test_no_coming_later_claim_names_something_that_exists() -> None:
    later = re.compile(r"今後|予定|follow|coming later|not yet|future release|planned", re.I)
    features = {"probe": "probe", "dashboard": "web", "ダッシュボード": "web",
                "プローブ": "probe", "機器診断": "probe"}
    existing = _subcommands()
    for sentence in re.split(r"(?<=[.。])\s*", README):
        if not later.search(sentence):
            continue
        named = {cmd for word, cmd in features.items() if word.lower() in sentence.lower()}
        named |= {w for w in re.findall(r"`officeguard ([a-z-]+)", sentence)}
        assert not (named & existing), f"README promises as future what exists: {sentence!r}"


def test_the_readme_says_wifi_verdicts_need_the_ssids() -> None:
    assert re.search(r"SSID", README) and re.search(r"Wi-Fi verdicts need", README)


def test_every_apt_call_in_the_makefile_waits_for_the_dpkg_lock() -> None:
    """Right after a Pi boots, unattended-upgrades holds the lock for minutes: make must wait."""
    res = subprocess.run(["make", "-n", "-B", "deb-test", "venv", "test-image"], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    calls = re.findall(r"apt-get[^;&|]*?(?:update|install)", res.stdout + (
        ROOT / "Makefile").read_text(encoding="utf-8").replace("$(APT)", "apt-get -o APTVAR"))
    assert calls
    for call in calls:
        assert "DPkg::Lock::Timeout=" in call or "APTVAR" in call, call
    assert re.search(r"^APT := apt-get -o DPkg::Lock::Timeout=\d+", (ROOT / "Makefile").read_text(
        encoding="utf-8"), re.M)
