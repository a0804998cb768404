"""Probe cycle time against nmap on the namespace testbed (tests/probebed.py, weak variant).

Same hosts, same ports, same run: `officeguard probe --jobs scan` (ports, banners, UDP
fingerprints, firmware, credentials) versus `nmap -n -Pn -sT -sV`. Also the full cycle (all jobs,
the whole /24 scopes). Needs root (network namespaces). Prints figures; asserts nothing.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests import netns, probebed  # noqa: E402

HOSTS = [probebed.ROUTER, probebed.PRINTER, probebed.CAMERA, probebed.WWW]


def main() -> None:
    if os.geteuid() != 0 or probebed.missing() or shutil.which("nmap") is None:
        print("bench_probe: skipped (needs root, nmap and the testbed daemons: make test "
              "installs them)")
        return
    d = Path(tempfile.mkdtemp(prefix="og-bench-probe-"))
    tb = netns.Testbed()
    bed = None
    try:
        bed = probebed.build(tb, d, hardened=False)
        cfg = bed.config()
        scope = ",".join(f"{h}/32" for h in HOSTS)
        t0 = time.perf_counter()
        r = bed.run("probe", "--config", str(cfg), "--scope", scope, "--jobs", "scan",
                    "--json", "--no-record")
        ours_s = time.perf_counter() - t0
        doc = json.loads(r.stdout)
        ours = {h["ip"]: sorted(p["port"] for p in h["ports"] if p["proto"] == "tcp")
                for h in doc["hosts"]}
        t0 = time.perf_counter()
        x = subprocess.run(["ip", "netns", "exec", bed.prober_ns, "nmap", "-n", "-Pn", "-sT",
                            "-sV", "-p", ",".join(map(str, probebed.PORTS)), "-oX", "-", *HOSTS],
                           capture_output=True, text=True, timeout=900)
        nmap_s = time.perf_counter() - t0
        ref: dict[str, list[int]] = {}
        for host in ET.fromstring(x.stdout).iter("host"):
            ip = host.find("address").get("addr")  # type: ignore[union-attr]
            ref[str(ip)] = sorted(int(p.get("portid", 0)) for p in host.iter("port")
                                  if p.find("state").get("state") == "open")  # type: ignore[union-attr]
        t0 = time.perf_counter()
        r = bed.run("probe", "--config", str(cfg), "--json", "--no-record")
        full_s = time.perf_counter() - t0
        full = json.loads(r.stdout)
        same = all(ours.get(h, []) == ref.get(h, []) for h in HOSTS)
        print(f"probe scan, {len(HOSTS)} hosts x {len(probebed.PORTS)} ports: {ours_s:.1f} s "
              f"(includes credential checks and UDP fingerprints)")
        print(f"nmap -sT -sV, same hosts and ports:  {nmap_s:.1f} s "
              f"({nmap_s / ours_s:.1f}x the probe's time)")
        print(f"open TCP ports identical to nmap's: {'yes' if same else 'NO'} "
              f"({sum(len(v) for v in ref.values())} open ports)")
        print(f"full cycle (scan of 2 x /24 + isolation + separation + web site): "
              f"{full_s:.1f} s, {len(full['hosts'])} hosts, {len(full['findings'])} findings, "
              f"{full['packets']} rate-limited sends")
    finally:
        tb.close()
        if bed is not None:
            bed.close()
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
