"""Issue #14: values that used to poison the configuration, and global CLI options."""

from __future__ import annotations

import os
import subprocess
import tomllib
from pathlib import Path

import pytest

from appliance import cli
from appliance.config import ConfigError, dump_settings, from_mapping, load
from tests.conftest import OFFICEGUARD
from tests.webutil import add_user, client, config_for, csrf


@pytest.mark.parametrize(("data", "field"), [
    ({"lan": {"poisoning_window_s": float("nan")}}, "lan.poisoning_window_s"),
    ({"probe": {"rate_per_s": float("inf")}}, "probe.rate_per_s"),
    ({"web": {"timezone": "Mars/Olympus_Mons"}}, "web.timezone"),
    ({"web": {"timezone": "../../etc/passwd"}}, "web.timezone"),
    ({"probe": {"scope": ["255.255.255.255/32"]}}, "probe.scope"),
    ({"probe": {"scope": ["224.0.0.0/24"]}}, "probe.scope"),
    ({"probe": {"scope": ["8.8.8.8/32"]}}, "probe.scope"),
    ({"facility": {"ssids": [{"name": "x" * 36}]}}, "facility.ssids.0.name"),
    ({"facility": {"ssids": [{"name": "あ" * 11}]}}, "facility.ssids.0.name"),  # 33 bytes
    ({"facility": {"ssids": [{"name": ""}]}}, "facility.ssids.0.name"),
    ({"facility": {"name": "Office\x7f"}}, "facility.name"),
    ({"facility": {"name": "abc\u202egnp.exe"}}, "facility.name"),
])
def test_bad_values_are_refused_naming_the_field(data: dict[str, object], field: str) -> None:
    with pytest.raises(ConfigError) as err:
        from_mapping(data)  # a ConfigError, never a TypeError or a silent default
    assert str(err.value).startswith(field + ":"), str(err.value)


def test_public_scope_needs_an_explicit_yes() -> None:
    cfg = from_mapping({"probe": {"scope": ["8.8.8.8/32"], "allow_public_scope": True}})
    assert cfg.probe.scope == ["8.8.8.8/32"]
    assert from_mapping({"probe": {"scope": ["192.0.2.0/24", "127.0.0.1/32"]}}).probe.scope


def test_deeply_nested_config_is_a_clear_error(tmp_path: Path) -> None:
    f = tmp_path / "deep.toml"
    f.write_text("x = " + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(ConfigError, match="nested too deeply"):
        load(f)
    res = subprocess.run([OFFICEGUARD, "validate-config", str(f)], capture_output=True,
                         text=True, timeout=60)
    assert res.returncode != 0 and "Traceback" not in res.stderr


def test_a_36_byte_ssid_in_the_file_is_an_error_not_a_traceback(tmp_path: Path) -> None:
    f = tmp_path / "og.toml"
    f.write_text('[[facility.ssids]]\nname = "' + "s" * 36 + '"\n')
    res = subprocess.run([OFFICEGUARD, "validate-config", str(f)], capture_output=True,
                         text=True, timeout=60)
    assert res.returncode == 2, res.stderr
    assert "facility.ssids.0.name" in res.stderr and "Traceback" not in res.stderr


def test_settings_file_round_trips_every_character() -> None:
    name = 'Room "A" \\ \x7f\x1b[31m\u0085 end'
    ssids = [{"name": "x\x7f", "role": "guest"}]
    text = dump_settings({"facility": {"name": name, "ssids": ssids}})
    assert tomllib.loads(text)["facility"]["name"] == name


def test_settings_page_refuses_a_name_that_would_break_the_file(tmp_path: Path) -> None:
    cfg = config_for(tmp_path)
    add_user(cfg)
    with client(cfg, login="manager") as c:
        token = csrf(c, "/settings")
        base = {"csrf": token, "facility_name": "Office", "ssids": "", "scope": "",
                "websites": "", "mqtt_host": "", "mqtt_port": "1883"}
        r = c.post("/settings/config", data={**base, "facility_name": "Bad\x7fName"})
        assert r.status_code == 400 and "facility.name" in r.text
        for line in ("|guest", "x" * 33 + "|guest"):
            r = c.post("/settings/config", data={**base, "ssids": line})
            assert r.status_code == 400, (line, r.status_code)
            assert "facility.ssids.0.name" in r.text
        assert not (cfg.data_dir / "settings.toml").exists()
        r = c.post("/settings/config", data={**base, "facility_name": "Shibuya 3F"})
        assert r.status_code == 303
    assert load_with(cfg.data_dir).facility.name == "Shibuya 3F"
    assert not [p for p in cfg.data_dir.iterdir() if p.name.endswith(".tmp")]


def load_with(data_dir: Path) -> object:
    main = data_dir.parent / "main.toml"
    main.write_text(f'[storage]\ndata_dir = "{data_dir}"\n')
    return load(main)


def test_global_options_work_before_and_after_the_command(tmp_path: Path) -> None:
    f = tmp_path / "og.toml"
    f.write_text(f'[storage]\ndata_dir = "{tmp_path / "d"}"\n')
    p = cli.build_parser()
    for argv in (["--config", str(f), "status"], ["status", "--config", str(f)]):
        args = p.parse_args(argv)
        assert args.config == str(f), argv
    assert p.parse_args(["-v", "status"]).verbose is True
    assert p.parse_args(["status", "-v"]).verbose is True
    assert p.parse_args(["status"]).verbose is False
    assert p.parse_args(["status"]).config is None
    env = {k: v for k, v in os.environ.items() if k != "OFFICEGUARD_CONFIG"}
    res = subprocess.run([OFFICEGUARD, "--config", str(f), "status", "--json"], env=env,
                         capture_output=True, text=True, timeout=60, cwd=tmp_path)
    # the command looked in the file's data_dir, not the default one in the working directory
    assert str(tmp_path / "d" / "officeguard.db") in res.stderr, res.stderr
    assert "officeguard-data" not in res.stderr
