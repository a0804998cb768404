"""The agent's guest Wi-Fi station (agent/station.py, `[probe.guest_wifi]`): configuration,
the private wpa_supplicant file, and every failure reported with its reason. Joining a real
access point is tests/radio/test_radio_isolation.py (mac80211_hwsim in a VM)."""

from __future__ import annotations

import hashlib
import json
import stat
import threading
import time
from pathlib import Path

import pytest

from agent.runner import Agent
from agent.station import GuestStation, StationError, status_fields, wpa_config, write_private
from appliance.config import Config, ConfigError, GuestWifi, from_mapping
from appliance.store import Store
from tests.test_monitor import USB, fake_iw

PASS = "test-only-passphrase"  # a test network's, never shipped


def _cfg(tmp_path: Path, **gw: object) -> Config:
    return from_mapping({"storage": {"data_dir": str(tmp_path)},
                         "interfaces": {"lan": "nonexistent0"},
                         "probe": {"guest_wifi": {"interface": "lo", "ssid": "Guest \"Wi-Fi\"",
                                                  **gw}}})


def test_config_needs_ssid_and_passphrase_file_and_one_interface() -> None:
    with pytest.raises(ConfigError) as ei:
        from_mapping({"probe": {"guest_wifi": {"interface": "wlan1"}}})
    assert "probe.guest_wifi.ssid" in str(ei.value)
    assert "probe.guest_wifi.passphrase_file" in str(ei.value)
    with pytest.raises(ConfigError, match="probe.guest_interface"):
        from_mapping({"probe": {"guest_interface": "eth1", "guest_wifi": {
            "interface": "wlan1", "ssid": "G", "key_mgmt": "NONE"}}})
    with pytest.raises(ConfigError, match="probe.guest_wifi.key_mgmt"):
        from_mapping({"probe": {"guest_wifi": {"key_mgmt": "WEP"}}})
    with pytest.raises(ConfigError, match="prefix length"):
        from_mapping({"probe": {"guest_wifi": {"address": "198.51.100.10"}}})
    with pytest.raises(ConfigError, match="unknown key"):  # never the passphrase itself
        from_mapping({"probe": {"guest_wifi": {"passphrase": PASS}}})
    # the isolation job runs from the station's interface unless told otherwise
    c = from_mapping({"probe": {"guest_wifi": {"interface": "wlan1", "ssid": "G",
                                               "key_mgmt": "NONE"}}})
    assert c.probe.guest_interface == "wlan1"
    assert from_mapping({}).probe.guest_wifi.interface == ""  # no station by default


def test_wpa_config_keeps_the_passphrase_out(tmp_path: Path) -> None:
    ssid = 'Gäst "1"'
    g = GuestWifi(interface="wlan1", ssid=ssid, passphrase_file="/x")
    text = wpa_config(g, PASS, tmp_path / "ctrl")
    assert PASS not in text
    psk = hashlib.pbkdf2_hmac("sha1", PASS.encode(), ssid.encode(), 4096, 32).hex()
    assert f"\tpsk={psk}\n" in text and f"\tssid={ssid.encode().hex()}\n" in text
    sae = wpa_config(GuestWifi(interface="wlan1", ssid="G", key_mgmt="SAE",
                               passphrase_file="/x"), PASS, tmp_path)
    assert "key_mgmt=SAE" in sae and "ieee80211w=2" in sae
    assert "key_mgmt=NONE" in wpa_config(GuestWifi(interface="w", ssid="G", key_mgmt="NONE"),
                                         "", tmp_path)
    for bad in ("short", "x" * 64, "tab\there-long"):
        with pytest.raises(StationError):
            wpa_config(g, bad, tmp_path)
    f = tmp_path / "w.conf"
    write_private(f, text)
    assert stat.S_IMODE(f.stat().st_mode) == 0o600


def test_status_reply_parses() -> None:
    assert status_fields("bssid=02:00:00:00:03:00\nwpa_state=COMPLETED\nkey_mgmt=WPA2-PSK\n"
                         ) == {"bssid": "02:00:00:00:03:00", "wpa_state": "COMPLETED",
                               "key_mgmt": "WPA2-PSK"}


@pytest.mark.parametrize(("setup", "why"), [
    ("missing-iface", "interface 'nosuch0' does not exist"),
    ("world-readable", "readable by every user"),
    ("no-file", "cannot read"),
])
def test_failures_say_why(tmp_path: Path, setup: str, why: str) -> None:
    secret = tmp_path / "guest.psk"
    secret.write_text(PASS)
    secret.chmod(0o644 if setup == "world-readable" else 0o600)
    g = GuestWifi(interface="nosuch0" if setup == "missing-iface" else "lo", ssid="G",
                  passphrase_file=str(tmp_path / "absent") if setup == "no-file"
                  else str(secret))
    st = GuestStation(g, tmp_path)
    with pytest.raises(StationError, match=why):
        st.join()
    assert st.proc is None  # nothing was started
    assert not (tmp_path / "guest-wifi" / "wpa_supplicant.conf").exists()


def test_the_agent_reports_the_station_state_and_stops_it(tmp_path: Path) -> None:
    """The real agent loop: the station's failure (here: its passphrase file is readable by
    everyone) shows in the heartbeat's sensor list with the reason; no secret is used."""
    secret = tmp_path / "guest.psk"
    secret.write_text(PASS)
    secret.chmod(0o604)
    cfg = _cfg(tmp_path, passphrase_file=str(secret))
    with Store(tmp_path / "officeguard.db") as store:
        agent = Agent(cfg, store, iw=fake_iw(USB))
        assert [s for s in agent.sensors if s.name == "guest_wifi"][0].detail.startswith(
            "joining")
        t = threading.Thread(target=agent.run)
        t.start()
        try:
            deadline = time.monotonic() + 60
            while True:
                raw = store.get_meta("agent")
                sensors = {s["name"]: s for s in json.loads(raw)["sensors"]} if raw else {}
                st = sensors.get("guest_wifi")
                if st and not st["detail"].startswith("joining"):
                    break
                assert time.monotonic() < deadline, sensors
                time.sleep(0.1)
            assert st["active"] is False and "readable by every user" in st["detail"]
        finally:
            agent.stop.set()
            t.join(30)
        assert not t.is_alive()
        assert agent.station is not None and agent.station.proc is None
