"""The units in systemd/: they verify, they are hardened, and the exposure scores stay OK."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

UNITS = ROOT / "systemd"


def directives(path: Path) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", "[")):
            continue
        k, _, v = line.partition("=")
        out.setdefault(k.strip(), []).append(v.strip())
    return out


COMMON = {"NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes",
          "PrivateTmp": "yes", "PrivateDevices": "yes", "ProtectKernelModules": "yes",
          "ProtectKernelTunables": "yes", "RestrictSUIDSGID": "yes",
          "SystemCallArchitectures": "native", "LockPersonality": "yes"}


@pytest.mark.parametrize("unit", ["officeguard-agent.service", "officeguard-web.service",
                                  "officeguard-export.service", "officeguard-monitor@.service"])
def test_hardening(unit: str) -> None:
    d = directives(UNITS / unit)
    for key, value in COMMON.items():
        assert d.get(key) == [value], (unit, key)
    assert "@system-service" in d["SystemCallFilter"]
    if unit != "officeguard-monitor@.service":
        assert d["User"] == ["officeguard"]


def test_agent_has_exactly_the_capabilities_it_needs() -> None:
    d = directives(UNITS / "officeguard-agent.service")
    assert d["Type"] == ["notify"] and d["WatchdogSec"] == ["60"]
    assert d["AmbientCapabilities"] == ["CAP_NET_RAW CAP_NET_ADMIN"]
    assert d["CapabilityBoundingSet"] == ["CAP_NET_RAW CAP_NET_ADMIN"]
    assert "AF_PACKET" in d["RestrictAddressFamilies"][0]
    assert d["StateDirectory"] == ["officeguard"]


def test_web_has_no_capabilities() -> None:
    d = directives(UNITS / "officeguard-web.service")
    assert d["CapabilityBoundingSet"] == [""] and d["AmbientCapabilities"] == [""]
    assert "AF_PACKET" not in d["RestrictAddressFamilies"][0]
    assert directives(UNITS / "officeguard-web.socket")["ListenStream"]


def test_sysusers_declares_the_static_user() -> None:
    assert re.search(r"^u officeguard - ", (UNITS / "officeguard.sysusers.conf").read_text(),
                     re.M)


def _copies(tmp_path: Path) -> Path:
    d = tmp_path / "units"
    d.mkdir()
    exe = str(Path(sys.executable).with_name("officeguard"))
    for p in UNITS.iterdir():
        if p.suffix in (".service", ".socket", ".timer"):
            (d / p.name).write_text(p.read_text().replace(
                "/opt/officeguard/venv/bin/officeguard", exe))
    shutil.copy(d / "officeguard-monitor@.service", d / "officeguard-monitor@wlan1.service")
    return d


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="needs systemd-analyze")
def test_systemd_analyze_verify(tmp_path: Path) -> None:
    d = _copies(tmp_path)
    files = sorted(str(p) for p in d.iterdir() if p.name != "officeguard-monitor@.service")
    res = subprocess.run(["systemd-analyze", "verify", "--man=no", *files],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert "officeguard" not in res.stderr, res.stderr  # no warning about our units


def documented_scores() -> dict[str, float]:
    """The exposure scores docs/appliance.md records, per unit: the ceiling each must keep."""
    out = {}
    for m in re.finditer(r"^\| `(officeguard-[\w@-]+\.service)`[^|]*\|[^|]*\| ([\d.]+) OK \|",
                         (ROOT / "docs" / "appliance.md").read_text(), re.M):
        out[m.group(1)] = float(m.group(2))
    return out


def test_every_unit_has_a_documented_score() -> None:
    assert set(documented_scores()) == {
        p.name for p in UNITS.glob("*.service") if p.name != "officeguard-firstboot.service"}


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="needs systemd-analyze")
@pytest.mark.parametrize("unit", sorted(documented_scores()))
def test_exposure_scores(tmp_path: Path, unit: str) -> None:
    """No worse than recorded in docs/appliance.md (tests/test_image_boot.py checks the same on
    the booted system): a weaker unit fails here until the docs say why."""
    limit = documented_scores()[unit]
    d = _copies(tmp_path)
    name = unit.replace("@.service", "@wlan1.service")
    res = subprocess.run(["systemd-analyze", "security", "--offline=true", "--no-pager",
                          str(d / name)], capture_output=True, text=True)
    m = re.search(r"Overall exposure level for \S+: ([\d.]+) (\w+)", res.stdout)
    assert m, res.stdout[-500:] + res.stderr
    assert float(m.group(1)) <= limit and m.group(2) == "OK", (m.group(0), limit)


def test_sd_notify_protocol(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    from agent import sdnotify

    path = tmp_path / "notify.sock"
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    srv.bind(str(path))
    monkeypatch.setenv("NOTIFY_SOCKET", str(path))
    monkeypatch.setenv("WATCHDOG_USEC", "60000000")
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    assert sdnotify.notify("READY=1") and srv.recv(100) == b"READY=1"
    assert sdnotify.watchdog_interval_s() == 30.0
    srv.close()
    monkeypatch.delenv("NOTIFY_SOCKET")
    assert sdnotify.notify("READY=1") is False


def test_firstboot_credentials_are_unique_and_private(tmp_path: Path) -> None:
    from appliance import firstboot

    a = firstboot.run(tmp_path / "a", hostname="officeguard")
    b = firstboot.run(tmp_path / "b", hostname="officeguard")
    assert a["setup_code"] != b["setup_code"] and a["mqtt_password"] != b["mqtt_password"]
    assert a["export_signing_key_sha256"] != b["export_signing_key_sha256"]
    root = tmp_path / "a"
    assert oct((root / "root/officeguard-first-boot.txt").stat().st_mode)[-3:] == "600"
    assert oct((root / "etc/officeguard/mqtt-password").stat().st_mode)[-3:] == "640"
    assert oct((root / "etc/officeguard/tls/web.key").stat().st_mode)[-3:] == "640"
    # the services (group officeguard) must get into the folder (first boot runs with umask 077)
    assert oct((root / "etc/officeguard/tls").stat().st_mode)[-3:] == "750"
    # the broker serves the same certificate; its key is not world-readable
    assert (root / "etc/mosquitto/certs/officeguard.crt").read_bytes() == (
        root / "etc/officeguard/tls/web.crt").read_bytes()
    assert oct((root / "etc/mosquitto/certs/officeguard.key").stat().st_mode)[-3:] == "640"
    assert a["mqtt_password"] in (root / "etc/officeguard/mqtt-password").read_text()
    with pytest.raises(firstboot.FirstBootError, match="already ran"):
        firstboot.run(root)
    if shutil.which("mosquitto_passwd"):
        assert (root / "etc/mosquitto/officeguard.passwd").read_text().startswith("officeguard:")


def test_an_unclean_stop_becomes_a_health_finding_at_the_next_start() -> None:
    """The last heartbeat still says "running": the watchdog, a crash or a power cut ended the
    previous run (tests/test_image_boot.py sees it after SIGSTOP and after a power cut)."""
    from agent.health import unclean_stop_draft

    d = unclean_stop_draft({"running": True, "heartbeat_at": "2026-12-01T10:00:00+09:00",
                            "pid": 42}, 1.8e9)
    assert d is not None and d.rule == "health.unclean_restart" and d.measure == "1-4"
    assert d.severity == "medium" and not d.clear and "10:00:00" in d.message_en
    assert unclean_stop_draft({"running": False, "heartbeat_at": "x"}, 1.8e9) is None
    assert unclean_stop_draft(None, 1.8e9) is None
