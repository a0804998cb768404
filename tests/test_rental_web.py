"""The rental-PC page and the OS column on the devices page (#18). The store is filled by the
probe's own recording path (record_cycle) from an OS identification and verdict made by the
real parsers and catalog; the network half is in tests/test_os_live.py."""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path
from typing import Any

from agent import osid
from agent.probe import osprobe, record
from agent.probe.checks import Outcome
from appliance import eol
from appliance.config import Config
from appliance.store import Store
from tests.webutil import add_user, client, config_for, csrf

CHALLENGE_10_22H2 = {"version": {"major": 10, "minor": 0, "build": 19045, "ntlm_revision": 15},
                     "target_info": {"netbios_computer": "RENTAL-PC-01"}}


def _record_cycle(cfg: Config, ip: str, mac: str, label: str) -> None:
    """One cycle's host as the engine builds it, recorded as the agent records it."""
    store = Store(cfg.data_dir / "officeguard.db")
    try:
        op = osprobe.plan_for(cfg, store.read_with(osprobe.registered), date(2026, 12, 1))
        pc = osprobe.rental_for(op, ip, mac)
        assert pc is not None and pc.label == label  # the dashboard registration reaches it
        ident = osid.from_ntlm(CHALLENGE_10_22H2, "smb ntlmssp", True)
        now = time.time()
        host: dict[str, Any] = {
            "ip": ip, "mac": mac, "vendor": "", "ports": [
                {"port": 445, "proto": "tcp", "state": "open", "service": "microsoft-ds"}],
            "device": {"class": "other", "vendor": "", "model": "", "firmware": "",
                       "evidence": {}}, "firmware": [], "advisories": [],
            "smb": {"port": 445, "ntlm": CHALLENGE_10_22H2}, "os": ident.as_dict(),
            "rental": {"label": pc.label, "edition": pc.edition},
            "os_support": osprobe.judge(eol.load(cfg.data_dir), ident, op.today, pc)}
        out = Outcome()
        osprobe.checks(out, op, [host], now)
        doc = {"started_at": now - 1, "finished_at": now, "hosts": [host], "jobs": ["scan"],
               "scope": ["192.0.2.0/24"], "checks": out.checks, "refused": [], "errors": []}
        store.write(lambda c: record.record_cycle(c, doc, out))
    finally:
        store.close()


def _hear_dhcp(cfg: Config, mac: str) -> None:
    """The LAN sensor's own decode and write of a DHCP request from MAC."""
    from scapy.all import BOOTP, DHCP, IP, UDP, raw

    from agent import hints

    pkt = (IP(src="0.0.0.0", dst="255.255.255.255") / UDP(sport=68, dport=67)
           / BOOTP(chaddr=bytes.fromhex(mac.replace(":", "")) + bytes(10))
           / DHCP(options=[("message-type", "request"), ("vendor_class_id", b"MSFT 5.0"),
                           "end"]))
    pending: dict[tuple[str, str], tuple[Any, ...]] = {}
    hints.observe(pending, time.time(), bytes.fromhex(mac.replace(":", "")), raw(pkt))
    assert pending
    store = Store(cfg.data_dir / "officeguard.db")
    try:
        store.write(lambda c: hints.write(c, list(pending.values())))
    finally:
        store.close()


def test_register_see_and_remove_a_rental_pc(tmp_path: Path) -> None:
    cfg = config_for(tmp_path)
    add_user(cfg)
    add_user(cfg, "staff", role="viewer")
    with client(cfg, login="manager") as c:
        token = csrf(c, "/rental")
        r = c.post("/rental/add", data={"csrf": token, "label": "Rental PC 01",
                                         "mac": "02-00-00-00-00-41"})
        assert r.status_code == 303
        bad = c.post("/rental/add", data={"csrf": token, "label": "No address"})
        assert bad.status_code == 400 and "give the PC&#39;s mac or ip" in bad.text
        bad = c.post("/rental/add", data={"csrf": token, "label": "x", "ip": "192.0.2.9",
                                           "esu_until": "2027-10-12"})
        assert bad.status_code == 400 and "esu_evidence" in bad.text
        dup = c.post("/rental/add", data={"csrf": token, "label": "Rental PC 01",
                                           "ip": "192.0.2.41"})
        assert dup.status_code == 409
        page = c.get("/rental").text
        assert "Rental PC 01" in page and "02:00:00:00:00:41" in page
        assert "not identified yet" in page or "未識別" in page
        # before any probe: what the LAN sensor heard from it (its DHCP request)
        _hear_dhcp(cfg, "02:00:00:00:00:41")
        c.get("/lang/en")
        assert "passive hint: Windows (dhcp option60" in c.get("/rental").text

        _record_cycle(cfg, "192.0.2.41", "02:00:00:00:00:41", "Rental PC 01")
        c.get("/lang/en")
        page = c.get("/rental").text
        assert "Windows 10 22H2 (build 19045)" in page and "2025-10-14" in page
        assert "from smb ntlmssp" in page and f"catalog of {eol.load().as_of}" in page
        assert 'href="/findings/' in page and "sev-critical" in page
        devices = c.get("/devices").text
        assert "Windows 10 22H2 (build 19045)" in devices and "from smb ntlmssp" in devices
        assert f"2025-10-14 (catalog of {eol.load().as_of})" in devices
        # a viewer sees the page and cannot register
        c.post("/logout", data={"csrf": csrf(c)})
    with client(cfg, login="staff") as v:
        assert v.get("/rental").status_code == 200
        assert v.post("/rental/add", data={"csrf": csrf(v, "/rental"), "label": "y",
                                           "ip": "192.0.2.5"}).status_code == 403
    with client(cfg, login="manager") as c:
        token = csrf(c, "/rental")
        assert c.post("/rental/remove", data={"csrf": token, "pc_id": "1"}).status_code == 303
        assert "02:00:00:00:00:41" not in c.get("/rental").text
        assert c.post("/rental/remove", data={"csrf": token, "pc_id": "1"}).status_code == 404
