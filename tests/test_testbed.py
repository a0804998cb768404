"""The namespace testbed itself: isolation, routing, firewalls, services, cleanup."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from tests import netns
from tests.netns import Testbed

pytestmark = pytest.mark.root


def reachable(tb: Testbed, src: str, dst_ip: str) -> bool:
    # forget earlier failed lookups so each check starts from a clean neighbour table
    tb.exec(src, "ip", "neigh", "flush", "all", check=False)
    return tb.exec(src, "ping", "-c", "3", "-i", "0.3", "-W", "1", dst_ip,
                   check=False).returncode == 0


def test_port_isolation_on_and_off(testbed: Testbed) -> None:
    testbed.bridge("guest")
    testbed.link("gw", "guest", "198.51.100.1/24")
    testbed.link("a", "guest", "198.51.100.10/24", isolated=True)
    testbed.link("b", "guest", "198.51.100.11/24", isolated=True)
    assert not reachable(testbed, "a", "198.51.100.11")  # isolated ports cannot talk
    assert reachable(testbed, "a", "198.51.100.1")  # but reach the non-isolated gateway
    testbed.isolate_port("b", on=False)
    assert reachable(testbed, "a", "198.51.100.11")


@pytest.mark.parametrize("firewall", [False, True])
def test_routed_segments_with_and_without_firewall(testbed: Testbed, firewall: bool) -> None:
    testbed.bridge("guest")
    testbed.bridge("business")
    testbed.router("rtr", [("guest", "198.51.100.1/24"), ("business", "192.0.2.1/24")],
                   firewall=firewall)
    testbed.link("guest1", "guest", "198.51.100.20/24", gateway="198.51.100.1")
    testbed.link("nas", "business", "192.0.2.20/24", gateway="192.0.2.1")
    assert reachable(testbed, "guest1", "192.0.2.20") is (not firewall)
    assert reachable(testbed, "nas", "198.51.100.1")


def test_services_run_inside_hosts(testbed: Testbed) -> None:
    testbed.bridge("lan")
    testbed.link("srv", "lan", "203.0.113.5/24")
    testbed.link("cli", "lan", "203.0.113.6/24")
    testbed.spawn("srv", sys.executable, "-m", "http.server", "8000", "--bind", "203.0.113.5")
    code = ("import urllib.request,time\n"
            "for _ in range(50):\n"
            "    try:\n"
            "        print(urllib.request.urlopen('http://203.0.113.5:8000/').status); break\n"
            "    except OSError: time.sleep(0.1)\n")
    out = testbed.exec("cli", sys.executable, "-c", code).stdout
    assert out.strip() == "200"


def test_only_documentation_addresses() -> None:
    ok, why = netns.available()
    if not ok:
        pytest.skip(why)
    with Testbed() as tb:
        tb.bridge("lan")
        with pytest.raises(ValueError, match="documentation ranges"):
            tb.link("x", "lan", "100.64.0.5/24")


def test_cleanup_removes_every_namespace() -> None:
    ok, why = netns.available()
    if not ok:
        pytest.skip(why)
    tb = Testbed()
    tb.bridge("lan")
    tb.link("h", "lan", "192.0.2.5/24")
    p = tb.spawn("h", "sleep", "60")
    names = list(tb.namespaces)
    tb.close()
    time.sleep(0.1)
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert not any(n in listed for n in names)
    assert p.poll() is not None
