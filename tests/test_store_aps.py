"""appliance/store/aps.py: the AP inventory's save and restore against a real SQLite store."""

from __future__ import annotations

from typing import Any

from appliance.store import Store, aps


def _row(bssid: str, **kw: Any) -> tuple[Any, ...]:
    base: dict[str, Any] = {c: None for c in aps.COLUMNS}
    base.update(bssid=bssid, ssid="Office", ssid_hex="4f6666696365", hidden=0, channel=6,
                frequency_mhz=2437, band="2.4GHz", security="WPA2", akm="[2]", pairwise="[4]",
                group_cipher=4, pmf="capable", privacy=1, vendor=None, randomized=0,
                phy="[]", rssi_min=-60, rssi_max=-40, rssi_sum=-100, rssi_n=2, rssi_last=-40,
                beacons=2, probe_responses=0, malformed_frames=0, profiles="[]",
                channels_seen="[6]", first_seen=100.0, last_seen=200.0)
    base.update(kw)
    return tuple(base[c] for c in aps.COLUMNS)


def test_counters_add_extremes_merge_and_the_rest_is_newest(fresh_store: Store) -> None:
    fresh_store.write(lambda c: aps.upsert(c, [_row("00:11:22:33:44:55")]))
    # a second writer's growth: counters add, RSSI extremes and first/last seen merge
    fresh_store.write(lambda c: aps.upsert(c, [_row(
        "00:11:22:33:44:55", security="WPA3", rssi_min=-70, rssi_max=-50, rssi_sum=-50,
        rssi_n=1, beacons=3, first_seen=50.0, last_seen=150.0)]))
    (r,) = fresh_store.read_with(aps.load_all)
    assert (r["beacons"], r["rssi_n"], r["rssi_sum"]) == (5, 3, -150)
    assert (r["rssi_min"], r["rssi_max"]) == (-70, -40)
    assert (r["first_seen"], r["last_seen"]) == (50.0, 200.0)
    assert r["security"] == "WPA3"
    assert set(r) == set(aps.COLUMNS)


def test_delete_withdraws_only_the_named(fresh_store: Store) -> None:
    fresh_store.write(lambda c: aps.upsert(c, [_row("02:00:00:00:00:01"),
                                               _row("02:00:00:00:00:02")]))
    fresh_store.write(lambda c: aps.delete(c, {"02:00:00:00:00:01"}))
    assert [r["bssid"] for r in fresh_store.read_with(aps.load_all)] == ["02:00:00:00:00:02"]
    fresh_store.write(lambda c: aps.upsert(c, []))  # nothing to write is no error
