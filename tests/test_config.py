from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from appliance import config as cfg
from tests.conftest import OFFICEGUARD, ROOT

EXAMPLE = ROOT / "docs" / "officeguard.example.toml"


def test_defaults_need_no_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(cfg.ENV_VAR, raising=False)
    c = cfg.load(None)
    assert c.probe.scope == []  # passive by default
    assert c.mqtt.host == ""
    assert c.topic_prefix == "officeguard/facility"
    assert c.db_path == Path("officeguard-data/officeguard.db")


def test_example_file_validates() -> None:
    c = cfg.load(EXAMPLE)
    assert c.facility.id == "shibuya-2f"
    assert c.facility.ssids[0].bssids == ["02:00:5e:10:00:01", "02:00:5e:10:00:02"]
    assert c.networks.business == ["192.0.2.0/24"]
    assert c.topic_prefix == "officeguard/shibuya-2f"


@pytest.mark.parametrize(
    ("toml", "path", "words"),
    [
        ("[facility]\nnmae = 'x'\n", "facility.nmae", "unknown key"),
        ("[bogus]\n", "bogus", "unknown key"),
        ("[mqtt]\nport = 70000\n", "mqtt.port", "less than or equal"),
        ("[networks]\nguest = ['192.0.2.0/33']\n", "networks.guest", "CIDR"),
        ("[[facility.ssids]]\nname = 'a'\nbssids = ['zz']\n", "facility.ssids.0.bssids",
         "MAC"),
        ("[storage]\nretention_days = 0\n", "storage.retention_days", "greater than"),
        ("[facility]\nid = 'Has Spaces'\n", "facility.id", "pattern"),
        ("[probe]\nwebsites = ['ftp://x']\n", "probe.websites", "URL"),
        ("[agent]\nhealth_every_s = 0\n", "agent.health_every_s", "greater than or equal"),
        ("[agent]\nheartbeat_s = 'often'\n", "agent.heartbeat_s", "valid number"),
        ("[agent]\nwatchdog_s = 3\n", "agent.watchdog_s", "unknown key"),
        ("[health]\nmemory_max_pct = 150\n", "health.memory_max_pct", "less than or equal"),
        ("[health]\ntemp_max_c = nan\n", "health.temp_max_c", "finite"),
    ],
)
def test_bad_values_name_the_key(tmp_path: Path, toml: str, path: str, words: str) -> None:
    f = tmp_path / "c.toml"
    f.write_text(toml)
    with pytest.raises(cfg.ConfigError) as ei:
        cfg.load(f)
    assert path in str(ei.value)
    assert words in str(ei.value)


def test_broken_toml_and_binary(tmp_path: Path) -> None:
    f = tmp_path / "c.toml"
    f.write_text("[facility\nid=")
    with pytest.raises(cfg.ConfigError, match="invalid TOML"):
        cfg.load(f)
    f.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(cfg.ConfigError, match="not UTF-8"):
        cfg.load(f)
    with pytest.raises(cfg.ConfigError, match="cannot read"):
        cfg.load(tmp_path / "missing.toml")


def test_password_comes_from_file(tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_text("s3cret-from-file\n")
    secret.chmod(0o600)  # a secret readable by every user is refused (#14)
    c = cfg.from_mapping({"mqtt": {"host": "localhost", "password_file": str(secret)}})
    assert c.mqtt_password() == "s3cret-from-file"
    assert cfg.from_mapping({}).mqtt_password() is None
    bad = cfg.from_mapping({"mqtt": {"password_file": str(tmp_path / "nope")}})
    with pytest.raises(cfg.ConfigError, match="mqtt.password_file"):
        bad.mqtt_password()


def test_required_and_wrong_types(tmp_path: Path) -> None:
    with pytest.raises(cfg.ConfigError) as ei:
        cfg.from_mapping({"facility": {"ssids": [{"bssids": []}]}, "lan": {"allowlist_mode": 1},
                          "mqtt": {"port": "1883"}, "wifi": {"channels_24": [1, 99]},
                          "storage": "x"})
    text = str(ei.value)
    for expected in ("facility.ssids.0.name: Field required",
                     "lan.allowlist_mode: Input should be a valid boolean",
                     "mqtt.port: Input should be a valid integer",
                     "wifi.channels_24.1: Input should be less than or equal to 14",
                     "storage: Input should be a table"):
        assert expected in text
    assert cfg.from_mapping({"storage": {"flush_interval_s": 2}}).storage.flush_interval_s == 2.0


def test_no_password_key_in_toml() -> None:
    with pytest.raises(cfg.ConfigError, match="mqtt.password"):
        cfg.from_mapping({"mqtt": {"password": "hunter2"}})


def test_env_var_is_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    f = tmp_path / "c.toml"
    f.write_text("[facility]\nid = 'from-env'\n")
    monkeypatch.setenv(cfg.ENV_VAR, str(f))
    assert cfg.load().facility.id == "from-env"


def test_validate_config_command(tmp_path: Path) -> None:
    ok = subprocess.run([OFFICEGUARD, "validate-config", str(EXAMPLE)], capture_output=True,
                        text=True)
    assert ok.returncode == 0, ok.stderr
    assert "valid" in ok.stdout
    bad = tmp_path / "bad.toml"
    bad.write_text("[lan]\npoisoning_window = 3\n")
    res = subprocess.run([OFFICEGUARD, "validate-config", str(bad)], capture_output=True,
                         text=True)
    assert res.returncode == 2
    assert "lan.poisoning_window" in res.stderr
    assert "Traceback" not in res.stderr


def test_every_command_takes_config(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[x]\n")
    for cmd in (["status"], ["findings"], ["guideline"], ["ingest", "x.pcap"]):
        res = subprocess.run([OFFICEGUARD, *cmd, "--config", str(bad)], capture_output=True,
                             text=True)
        assert res.returncode == 2, cmd
        assert "x: unknown key" in res.stderr


def test_bad_agent_and_health_keys_exit_2_at_the_command_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[agent]\nprune_every_s = -1\n[health]\ndisk_min_free_pct = 99\n")
    for cmd in (["validate-config", str(bad)], ["agent", "--config", str(bad)]):
        res = subprocess.run([OFFICEGUARD, *cmd], capture_output=True, text=True, timeout=60)
        assert res.returncode == 2, cmd
        assert "agent.prune_every_s: Input should be greater than or equal to 60" in res.stderr
        assert "health.disk_min_free_pct: Input should be less than or equal to 90" in res.stderr
        assert "Traceback" not in res.stderr
    good = cfg.from_mapping({"agent": {"health_every_s": 5}, "health": {"temp_max_c": 75}})
    assert good.agent.health_every_s == 5.0 and good.agent.heartbeat_s == 5.0
    assert good.health.temp_max_c == 75.0 and good.health.disk_min_free_mb == 64.0
