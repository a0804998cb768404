"""Client isolation (3-⑤) over real Wi-Fi: the appliance's radio joins the guest SSID as a
station while a second station (in its own network namespace, so their traffic really crosses
the air) is associated; the probe's isolation job then passes with hostapd's `ap_isolate=1`
(the "privacy separator") and fails with `ap_isolate=0`: the self-test that makes a pass
trustworthy."""

from __future__ import annotations

import json

import pytest

from tests.radio.conftest import AGENT_UID, VENV_BIN, Bed, _read

pytestmark = [pytest.mark.root, pytest.mark.slow]

PSK = "correct-horse-battery"  # a test network's passphrase, never shipped
AP_N, ME_N, PEER_N = 3, 10, 11
NET = f'ssid="Guest-WiFi"\npsk="{PSK}"\nkey_mgmt=WPA-PSK'


@pytest.mark.parametrize("isolate", [1, 0])
def test_client_isolation_self_test(bed: Bed, isolate: int) -> None:
    vm = bed.vm
    ap = f"guest-ap-{isolate}"
    bed.ap(ap, AP_N, "Guest-WiFi", 6, f"wpa=2\nwpa_key_mgmt=WPA-PSK\nrsn_pairwise=CCMP\n"
           f"wpa_passphrase={PSK}\nap_isolate={isolate}")
    me, peer = f"me-{isolate}", f"peer-{isolate}"
    try:
        # the peer's radio lives in its own namespace: its address is not the appliance's
        vm.sh(f"ip netns add peer{isolate} && iw phy phy{PEER_N} set netns name peer{isolate}")
        conf = vm.share / f"{peer}.conf"
        conf.write_text(f"ctrl_interface=/run/wpa-{peer}\nnetwork={{\n{NET}\n}}\n")
        peer_log = vm.spawn(peer, ["/bin/ip", "netns", "exec", f"peer{isolate}",
                                   "/usr/sbin/wpa_supplicant", "-i", f"wlan{PEER_N}", "-D",
                                   "nl80211", "-c", str(conf)])
        me_log = bed.station(me, ME_N, NET)
        for log in (me_log, peer_log):
            vm.wait_for(lambda lg=log: "CTRL-EVENT-CONNECTED" in _read(lg), vm.t(60, 120),
                        f"{log.stem} to join Guest-WiFi")
        vm.sh(f"ip addr add 198.51.100.10/24 dev wlan{ME_N} && "
              f"ip netns exec peer{isolate} ip addr add 198.51.100.20/24 dev wlan{PEER_N}")
        data = f"/tmp/og-probe-{isolate}"
        vm.sh(f"mkdir -p {data} && chown {AGENT_UID}:{AGENT_UID} {data}")
        cfg = vm.share / f"probe-{isolate}.toml"
        cfg.write_text(f'[storage]\ndata_dir = "{data}"\n'
                       f'[probe]\nscope = ["198.51.100.16/29"]\n'
                       f'guest_interface = "wlan{ME_N}"\n'
                       # the appliance's own second station: the peer the test must not reach
                       # (without a known peer, 3-5 is unknown, never pass)
                       f'isolation_peers = ["198.51.100.20"]\n')
        cfg.chmod(0o644)
        def probe(as_shipped_user: bool) -> dict[str, object]:
            drop = ["/usr/bin/setpriv", f"--reuid={AGENT_UID}", f"--regid={AGENT_UID}",
                    "--clear-groups", "--inh-caps=+net_raw,+net_admin",
                    "--ambient-caps=+net_raw,+net_admin", "--"] if as_shipped_user else []
            r = vm.run([*drop, str(VENV_BIN / "officeguard"), "probe", "--jobs", "isolation",
                        "--json", "--no-record", "--config", str(cfg)],
                       timeout=vm.t(120, 300), check=False)
            assert r["rc"] == 0, r["err"][-2000:]
            doc = json.loads(r["out"])
            iso: dict[str, object] = {c["check"]: c for c in doc["checks"]}["client_isolation"]
            return iso

        if isolate:
            # the shipped agent's rights (not root; CAP_NET_RAW + CAP_NET_ADMIN only)
            iso = probe(as_shipped_user=True)
            ev = iso["evidence"]
            assert isinstance(ev, dict) and ev["tested"] >= 1
            assert iso["result"] == "pass" and ev["answered"] == []
            assert ev["expected"] == ["198.51.100.20"]  # a peer it could have failed against
        else:
            # the shipped user first: the database it makes is its own (0600), as on the
            # appliance; root can open it afterwards, the other way round it could not
            for shipped in (True, False):
                iso = probe(as_shipped_user=shipped)
                ev = iso["evidence"]
                assert isinstance(ev, dict)
                assert iso["result"] == "fail", (shipped, iso)
                assert [p["ip"] for p in ev["answered"]] == ["198.51.100.20"]
    finally:
        for name in (me, peer, ap):
            vm.stop(name)
        vm.sh(f"ip netns exec peer{isolate} iw phy phy{PEER_N} set netns 1; "
              f"ip netns del peer{isolate}; ip addr flush dev wlan{ME_N}; true")
