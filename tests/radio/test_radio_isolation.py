"""Client isolation (3-⑤) over real Wi-Fi: the agent, configured only through its
officeguard.toml (`[probe.guest_wifi]`), joins the guest SSID with its own wpa_supplicant while a
guest's station (in its own network namespace, so their traffic really crosses the air) is
associated; the probe's isolation job from the agent's station then passes with hostapd's
`ap_isolate=1` (the "privacy separator") and fails with `ap_isolate=0`: the self-test that
makes a pass trustworthy. Before the guest's station runs, the same job says unknown: a
configured peer counts only while the agent has seen it on the network lately. The access point
bridges the guest Wi-Fi to a wired segment (as a facility's guest AP bridges to its VLAN), where
the agent's LAN sensor listens and hears the guest announce itself (ARP for its gateway); the
agent's own station hears nothing of it when isolation works."""

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
    # the guest AP's wired side: a bridge with one veth leg, whose other end the agent's LAN
    # sensor listens on (no address: it only listens)
    br, wired, lan = f"br-guest{isolate}", f"og-wired{isolate}", f"og-lan{isolate}"
    peer = f"peer-{isolate}"
    agent = None
    try:
        vm.sh(f"ip link add {br} type bridge && ip link set {br} up && "
              f"ip link add {wired} type veth peer name {lan} && "
              f"ip link set {wired} master {br} && ip link set {wired} up && "
              f"ip link set {lan} up")
        bed.ap(ap, AP_N, "Guest-WiFi", 6, f"wpa=2\nwpa_key_mgmt=WPA-PSK\nrsn_pairwise=CCMP\n"
               f"wpa_passphrase={PSK}\nap_isolate={isolate}\nbridge={br}")
        # a guest's radio lives in its own namespace: its address is not the appliance's
        vm.sh(f"ip netns add peer{isolate} && iw phy phy{PEER_N} set netns name peer{isolate}")
        # the passphrase in a file only the agent's user may read, never in the toml
        secret = f"/tmp/og-secret-{isolate}"
        vm.sh(f"mkdir -p {secret} && umask 077 && printf %s '{PSK}' > {secret}/guest.psk && "
              f"chown -R {AGENT_UID}:{AGENT_UID} {secret} && chmod 700 {secret}")
        agent = bed.start_agent(None, (
            '[probe]\nscope = ["198.51.100.16/29"]\n'
            # the agent's own scheduled cycle stays out of the way of the one run below
            "jitter_s = 86400\n"
            # the peer the test must not reach (without a known peer, 3-5 is unknown)
            'isolation_peers = ["198.51.100.20"]\n'
            f'[probe.guest_wifi]\ninterface = "wlan{ME_N}"\nssid = "Guest-WiFi"\n'
            f'passphrase_file = "{secret}/guest.psk"\naddress = "198.51.100.10/24"\n'),
            lan=lan)
        cfg = vm.share / f"{agent.name}.toml"

        def station() -> dict[str, object] | None:
            rows = agent.peek("SELECT value FROM meta WHERE key = 'agent'") if agent else []
            if not rows:
                return None
            doc = json.loads(rows[0]["value"])
            st: dict[str, object] | None = next(
                (s for s in doc["sensors"] if s["name"] == "guest_wifi" and (
                    s["active"] or not str(s["detail"]).startswith("joining"))), None)
            return st

        st = agent.wait(station, "the agent's guest Wi-Fi station to join or fail")
        assert st["active"], st  # the reason is in the status when it is not
        assert "joined 'Guest-WiFi'" in str(st["detail"]) and "198.51.100.10/24" in str(
            st["detail"])
        # the station's wpa_supplicant config: private, and without the passphrase
        r = vm.sh(f"stat -c '%a %u' {agent.data}/guest-wifi/wpa_supplicant.conf && "
                  f"grep -c '{PSK}' {agent.data}/guest-wifi/wpa_supplicant.conf", check=False)
        assert r["out"].split() == ["600", str(AGENT_UID), "0"], r

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

        # the configured peer's station is not running: its silence proves nothing
        iso = probe(as_shipped_user=True)
        ev = iso["evidence"]
        assert isinstance(ev, dict) and iso["result"] == "unknown", iso
        assert ev["answered"] == [] and ev["expected"] == []
        assert [(p["ip"], p["last_seen"]) for p in ev["not_present"]] == [
            ("198.51.100.20", None)]
        assert "198.51.100.20 (never seen)" in ev["reason"], ev

        conf = vm.share / f"{peer}.conf"
        conf.write_text(f"ctrl_interface=/run/wpa-{peer}\nnetwork={{\n{NET}\n}}\n")
        peer_log = vm.spawn(peer, ["/bin/ip", "netns", "exec", f"peer{isolate}",
                                   "/usr/sbin/wpa_supplicant", "-i", f"wlan{PEER_N}", "-D",
                                   "nl80211", "-c", str(conf)])
        vm.wait_for(lambda: "CTRL-EVENT-CONNECTED" in _read(peer_log), vm.t(60, 120),
                    "the guest's station to join Guest-WiFi")
        # as a guest does on joining: an address, then ARP for its gateway (nobody has that
        # address here, so ping fails; the broadcast request is what the sensor hears)
        vm.sh(f"ip netns exec peer{isolate} ip addr add 198.51.100.20/24 dev wlan{PEER_N} && "
              f"ip netns exec peer{isolate} ip link set wlan{PEER_N} up; "
              f"ip netns exec peer{isolate} ping -c 1 -W 1 198.51.100.17; true",
              timeout=vm.t(30, 30))
        agent.wait(lambda: agent.peek("SELECT ip FROM stations WHERE ip = '198.51.100.20'"),
                   "the agent's LAN sensor to see the guest's station on the wired side")

        if isolate:
            # the shipped agent's rights (not root; CAP_NET_RAW + CAP_NET_ADMIN only)
            iso = probe(as_shipped_user=True)
            ev = iso["evidence"]
            assert isinstance(ev, dict) and ev["tested"] >= 1
            assert iso["result"] == "pass" and ev["answered"] == []
            assert ev["expected"] == ["198.51.100.20"]  # a peer it could have failed against
            # ... because the agent's sensor saw it there just now
            assert [(p["ip"], p["source"]) for p in ev["seen"]] == [("198.51.100.20", "sensor")]
        else:
            # the shipped user first: the database it makes is its own (0600), as on the
            # appliance; root can open it afterwards, the other way round it could not
            for shipped in (True, False):
                iso = probe(as_shipped_user=shipped)
                ev = iso["evidence"]
                assert isinstance(ev, dict)
                assert iso["result"] == "fail", (shipped, iso)
                assert [p["ip"] for p in ev["answered"]] == ["198.51.100.20"]
        agent.stop()
        # the station went with the agent: no wpa_supplicant on its radio, no address left
        left = vm.sh(f"pgrep -f '[w]pa_supplicant -i wlan{ME_N} ' || true; "
                     f"ip -4 -o addr show dev wlan{ME_N}")["out"]
        assert left.strip() == "", left
    finally:
        if agent is not None and agent.rc is None:
            vm.stop(agent.name)
            vm.stop(f"{agent.name}-mirror")
        for name in (peer, ap):
            vm.stop(name)
        vm.sh(f"ip netns exec peer{isolate} iw phy phy{PEER_N} set netns 1; "
              f"ip netns del peer{isolate}; ip addr flush dev wlan{ME_N}; "
              f"ip link del {wired}; ip link del {br}; true")
