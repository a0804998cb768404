"""A pass needs a test that could have failed, on the probe testbed (network namespaces, the
code under test inside the prober's namespace): 3-5 with nobody to test against is unknown,
with a silent peer the appliance knows (seen by its LAN sensor, or its own second station) it is
pass; probing only a printer says nothing about 3-1 (routers and APs).

The reachable-peer case (3-5 fail) is tests/test_probe_live.py's weak office."""

from __future__ import annotations

import json
import shutil
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


def test_3_the_appliances_own_second_station_that_stays_silent_is_a_pass(bed: Bed) -> None:
    extra = f'isolation_peers = ["{GUESTS[0]}"]'
    doc = _run(bed, "probe", "--json", extra=extra)
    iso = next(c for c in doc["checks"] if c["check"] == "client_isolation")
    assert iso["result"] == "pass"
    assert iso["examined"] == [f"{GUESTS[0]} appliance station stayed silent"]
    c35 = _check(_run(bed, "compliance", "--json", extra=extra), "3-5", "client_isolation")
    assert c35["state"] == "pass" and "stayed silent" in c35["examined"][0]["what"]


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
    known peer answers."""
    bed.tb.isolate_port("guest0", on=False)
    bed.tb.isolate_port("prober", "eth1", on=False)
    extra = f'isolation_peers = ["{GUESTS[0]}"]'
    doc = _run(bed, "probe", "--json", extra=extra)
    iso = next(c for c in doc["checks"] if c["check"] == "client_isolation")
    assert iso["result"] == "fail" and any(GUESTS[0] in x for x in iso["examined"])
    assert _check(_run(bed, "compliance", "--json", extra=extra), "3-5",
                  "client_isolation")["state"] == "fail"
