"""A pass needs a test that could have failed, on the probe testbed (network namespaces, the
code under test inside the prober's namespace): 3-5 with nobody to test against is unknown; a
configured peer (`probe.isolation_peers`) counts only while the LAN sensor has seen it lately
(`probe.isolation_peer_fresh_s`), so a peer that is off or gone is unknown, never a pass; with a
silent peer seen lately it is pass; probing only a printer says nothing about 3-1 (routers and
APs). The 3-5 runs are made as the shipped agent runs them: an unprivileged user holding only
CAP_NET_RAW and CAP_NET_ADMIN (setpriv).

The reachable-peer case (3-5 fail) is tests/test_probe_live.py's weak office."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.capture import write_pcap
from tests import netns, probebed
from tests.arpgen import ether_arp
from tests.conftest import ROOT
from tests.probebed import GUESTS, PRINTER, ROUTER, Bed

pytestmark = pytest.mark.root
DATA = ROOT / "tests" / "data"


@pytest.fixture(scope="module")
def bed() -> Iterator[Bed]:
    ok, why = netns.available()
    if not ok:
        pytest.skip(why)
    if why := probebed.missing():
        pytest.skip(why)
    d = Path(tempfile.mkdtemp(prefix="og-cprobe-"))
    tb = netns.Testbed()
    b = None
    try:
        b = probebed.build(tb, d, hardened=True)  # guests behind client isolation
        cfg = b.config()
        for args in (("firmware", "import", str(DATA / "firmware-catalog-test.json")),
                     ("advisories", "import", str(DATA / "myjvn-overview-test.rdf"))):
            r = b.run(*args, "--config", str(cfg))
            assert r.returncode == 0, r.stderr
        yield b
    finally:
        tb.close()
        if b is not None:
            b.close()
        shutil.rmtree(d, ignore_errors=True)


def _run(bed: Bed, *args: str, extra: str = "") -> Any:
    cfg = bed.config(extra)
    r = bed.run(*args, "--config", str(cfg), timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout) if "--json" in args else r.stdout


def _check(doc: dict[str, Any], measure: str, check: str) -> dict[str, Any]:
    m = next(m for m in doc["measures"] if m["measure"] == measure)
    return next(c for c in m["checks"] if c["check"] == check)


def test_1_only_a_printer_examined_leaves_3_1_unknown(bed: Bed) -> None:
    doc = _run(bed, "probe", "--scope", f"{PRINTER}/32", "--json")
    assert {h["ip"] for h in doc["hosts"]} == {PRINTER}
    comp = _run(bed, "compliance", "--json")
    fw31, fw41 = _check(comp, "3-1", "firmware"), _check(comp, "4-1", "firmware")
    assert fw31["state"] == "unknown" and fw31["examined"] == []
    assert fw31["reason_ja"] == "ルーター・APのファームウェアを確認できていません"
    assert fw41["state"] in ("pass", "warn", "fail")
    assert any(x["what"].startswith(PRINTER) for x in fw41["examined"])


def test_2_no_other_guest_means_3_5_unknown(bed: Bed) -> None:
    doc = _run(bed, "probe", "--json")
    iso = next(c for c in doc["checks"] if c["check"] == "client_isolation")
    assert iso["result"] == "unknown" and iso["examined"] == []
    assert doc["isolation"]["answered"] == [] and doc["isolation"]["expected"] == []
    comp = _run(bed, "compliance", "--json")
    c35 = _check(comp, "3-5", "client_isolation")
    assert c35["state"] == "unknown" and "no peer to test" in c35["reason"]
    # the router was examined this time: 3-1 has data now
    assert any(x["what"].startswith(ROUTER) for x in _check(comp, "3-1", "firmware")["examined"])


ABSENT = "198.51.100.99"  # a configured peer with no station behind it (switched off, gone)


class Shipped:
    """`officeguard` inside the prober namespace as the agent's unit runs it: user nobody
    (65534, no groups) holding only CAP_NET_RAW and CAP_NET_ADMIN, over a data directory of
    its own that the test fills (ingest) before it probes."""

    def __init__(self, bed: Bed, extra: str) -> None:
        if shutil.which("setpriv") is None:
            pytest.skip("needs setpriv (util-linux)")
        self.bed = bed
        self.dir = Path(tempfile.mkdtemp(prefix="og-iso-"))
        (self.dir / "data").mkdir()
        self.cfg = self.dir / "officeguard.toml"
        self.cfg.write_text(bed.config(extra).read_text().replace(
            str(bed.dir / "data"), str(self.dir / "data")))
        for p in (self.dir, self.dir / "data", self.cfg):
            p.chmod(0o777 if p.is_dir() else 0o644)

    def run(self, *args: str) -> Any:
        caps = "+net_raw,+net_admin"
        exe = ROOT / ".venv" / "bin" / "officeguard"
        r = subprocess.run(["ip", "netns", "exec", self.bed.prober_ns, "setpriv",
                            "--reuid=65534", "--regid=65534", "--clear-groups",
                            f"--inh-caps={caps}", f"--ambient-caps={caps}",
                            f"--bounding-set=-all,{caps}",
                            str(exe) if exe.exists() else "officeguard", *args,
                            "--config", str(self.cfg)],
                           capture_output=True, text=True, timeout=600,
                           env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)})
        assert r.returncode == 0, r.stderr[-3000:]
        return json.loads(r.stdout) if "--json" in args else r.stdout

    def saw(self, ip: str, mac: str, at: float) -> None:
        """The LAN sensor heard IP (at MAC) ask for the gateway at AT: `officeguard ingest` of
        that ARP frame, the same pipeline the live sensor feeds."""
        cap = self.dir / f"arp-{ip}-{int(at)}.pcap"
        write_pcap(cap, 1, [(at, ether_arp(1, mac, ip, tip="198.51.100.1"))])
        cap.chmod(0o644)
        self.run("ingest", str(cap))

    def isolation(self) -> tuple[dict[str, Any], dict[str, Any]]:
        doc = self.run("probe", "--jobs", "isolation", "--json", "--no-record")
        return doc, next(c for c in doc["checks"] if c["check"] == "client_isolation")

    def close(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


def test_3_a_configured_peer_not_seen_lately_is_unknown_never_a_pass(bed: Bed) -> None:
    """Isolation works, so nobody answers. A configured peer that is not there (ABSENT) and
    one that is there but the sensors have not seen (GUESTS[0]) make no pass: silence from them
    proves nothing. (The old rule counted every configured peer: this was a pass.)"""
    sh = Shipped(bed, f'isolation_peers = ["{ABSENT}", "{GUESTS[0]}"]\n')
    try:
        doc, iso = sh.isolation()
        assert doc["isolation"]["answered"] == [], doc["isolation"]
        assert iso["result"] == "unknown", iso
        assert iso["examined"] == [] and iso["evidence"]["expected"] == []
        ev = iso["evidence"]
        assert [(p["ip"], p["last_seen"], p["configured"]) for p in ev["not_present"]] == [
            (GUESTS[0], None, True), (ABSENT, None, True)]
        assert ev["reason"] == (
            "no peer to test: the configured isolation peers were not seen on the guest network "
            f"in the last 900 s: {GUESTS[0]} (never seen), {ABSENT} (never seen)")
        assert ABSENT in ev["reason_ja"] and "未確認" in ev["reason_ja"]
    finally:
        sh.close()


def test_3_the_appliances_own_second_station_seen_lately_and_silent_is_a_pass(bed: Bed) -> None:
    """The same configured peer, heard by the LAN sensor just now: its silence is a pass, and
    the evidence says which peer was expected and why (seen when, by what), and which
    configured peer was left out as not present."""
    sh = Shipped(bed, f'isolation_peers = ["{ABSENT}", "{GUESTS[0]}"]\n'
                      "isolation_peer_fresh_s = 300\n")
    try:
        # heard ten minutes ago: inside the default window, outside the configured one
        sh.saw(GUESTS[0], "02:00:5e:10:00:21", time.time() - 600)
        doc, iso = sh.isolation()
        assert iso["result"] == "unknown", iso
        stale = {p["ip"]: p for p in iso["evidence"]["not_present"]}[GUESTS[0]]
        assert stale["last_seen"] is not None and time.time() - stale["last_seen"] >= 600
        assert f"{GUESTS[0]} (last seen " in iso["evidence"]["reason"]
        assert "in the last 300 s" in iso["evidence"]["reason"]
        seen_at = time.time()
        sh.saw(GUESTS[0], "02:00:5e:10:00:21", seen_at)
        doc, iso = sh.isolation()
        assert iso["result"] == "pass", doc["isolation"]
        assert iso["examined"] == [f"{GUESTS[0]} appliance station stayed silent"]
        ev = iso["evidence"]
        assert ev["expected"] == [GUESTS[0]] and "reason" not in ev
        assert [(p["ip"], p["source"], p["configured"]) for p in ev["seen"]] == [
            (GUESTS[0], "sensor", True)]
        assert abs(ev["seen"][0]["seen_at"] - seen_at) < 1
        assert [p["ip"] for p in ev["not_present"]] == [ABSENT]
        c35 = _check(sh.run("compliance", "--json"), "3-5", "client_isolation")
        assert c35["state"] == "unknown"  # --no-record: nothing stored, nothing measured
        sh.run("probe", "--jobs", "isolation", "--json")
        c35 = _check(sh.run("compliance", "--json"), "3-5", "client_isolation")
        assert c35["state"] == "pass" and "stayed silent" in c35["examined"][0]["what"]
    finally:
        sh.close()


def test_4_a_guest_station_seen_by_the_sensor_that_stays_silent_is_a_pass(bed: Bed) -> None:
    # a fresh store: only what the LAN sensor saw makes the peer known
    shutil.rmtree(bed.dir / "data", ignore_errors=True)
    _run(bed, "firmware", "import", str(DATA / "firmware-catalog-test.json"))
    cap = bed.dir / "guest-arp.pcap"
    write_pcap(cap, 1, [(time.time(), ether_arp(1, "02:00:5e:10:00:22", GUESTS[1],
                                                tip="198.51.100.1"))])
    _run(bed, "ingest", str(cap))
    doc = _run(bed, "probe", "--json")
    iso = next(c for c in doc["checks"] if c["check"] == "client_isolation")
    assert iso["result"] == "pass", doc["isolation"]
    assert iso["examined"] == [f"{GUESTS[1]} guest station stayed silent"]
    comp = _run(bed, "compliance", "--json")
    assert _check(comp, "3-5", "client_isolation")["state"] == "pass"


def test_5_a_peer_that_answers_is_a_fail(bed: Bed) -> None:
    """With isolation off for one guest (its switch port is no longer isolated) the same
    known peer answers: a fail, whether or not the sensors have seen it lately (here never)."""
    bed.tb.isolate_port("guest0", on=False)
    bed.tb.isolate_port("prober", "eth1", on=False)
    extra = f'isolation_peers = ["{GUESTS[0]}"]'
    sh = Shipped(bed, extra + "\n")
    try:
        doc, iso = sh.isolation()
        assert iso["result"] == "fail", doc["isolation"]
        # the prober's own port is no longer isolated either: every guest answers it
        assert GUESTS[0] in [p["ip"] for p in doc["isolation"]["answered"]]
        assert [p["ip"] for p in iso["evidence"]["not_present"]] == [GUESTS[0]]
    finally:
        sh.close()
    doc = _run(bed, "probe", "--json", extra=extra)
    iso = next(c for c in doc["checks"] if c["check"] == "client_isolation")
    assert iso["result"] == "fail" and any(GUESTS[0] in x for x in iso["examined"])
    assert _check(_run(bed, "compliance", "--json", extra=extra), "3-5",
                  "client_isolation")["state"] == "fail"
