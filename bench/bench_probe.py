"""One probe cycle against nmap doing the same work, on the namespace testbed (tests/probebed.py).

The testbed: a guest /24 on the prober's own segment (router, two guests, a printer) and a
business /24 one hop away (router, printer, camera, NAS), plus the facility's web site: ten live
addresses in the scope.

    ours:  officeguard probe --json --no-record      (one cycle: scan, isolation, website)
    nmap:  nmap -n -sT -sV -T4 -p <the cycle's ports> --exclude <the prober's addresses>
                192.0.2.0/24 198.51.100.0/24 203.0.113.10/32

Same scope, same ports, same order of work (discovery, then ports, then versions: nmap's
default discovery is ARP on the local /24 and ICMP echo/timestamp + TCP 443/80 on the routed
one). The cycle does more on top: UDP fingerprints (SNMP, SSDP, mDNS), credential checks,
isolation and separation from the guest side, the web site's TLS. Packets are counted by
tcpdump on the prober's two links (outbound only, ARP included). Needs root; prints figures,
asserts nothing. `--variant hardened` runs the hardened office.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests import netns, probebed  # noqa: E402


def _count(pcaps: list[Path]) -> int:
    n = 0
    for p in pcaps:
        r = subprocess.run(["tcpdump", "-r", str(p), "-n", "-q"], capture_output=True, text=True,
                           timeout=120)
        n += len(r.stdout.splitlines())
    return n


def _captured(bed: probebed.Bed, name: str, run: list[str], timeout: float = 900
              ) -> tuple[float, int, subprocess.CompletedProcess[str]]:
    """Wall time, packets the prober sent, and the result of RUN inside the prober."""
    pcaps = [bed.dir / f"{name}-{i}.pcap" for i in ("eth0", "eth1")]
    caps = [bed.tb.spawn("prober", "tcpdump", "-i", i, "-Q", "out", "-n", "-U", "-w", str(p),
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for i, p in zip(("eth0", "eth1"), pcaps, strict=True)]
    deadline = time.monotonic() + 10
    while not all(p.exists() for p in pcaps) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
    t0 = time.perf_counter()
    r = subprocess.run(["ip", "netns", "exec", bed.prober_ns, *run], capture_output=True,
                       text=True, timeout=timeout,
                       env={**os.environ, "PYTHONPATH": str(probebed.ROOT)})
    elapsed = time.perf_counter() - t0
    time.sleep(0.5)
    for c in caps:
        c.terminate()
        c.wait(5)
    return elapsed, _count(pcaps), r


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--variant", choices=("weak", "hardened"), default="weak")
    args = ap.parse_args()
    if os.geteuid() != 0 or probebed.missing() or shutil.which("nmap") is None:
        print("bench_probe: skipped (needs root, nmap and the testbed daemons: make test "
              "installs them)")
        return
    d = Path(tempfile.mkdtemp(prefix="og-bench-probe-"))
    tb = netns.Testbed()
    bed = None
    try:
        bed = probebed.build(tb, d, hardened=args.variant == "hardened")
        cfg = bed.config()
        og = str(Path(sys.executable).with_name("officeguard"))
        ours_s, ours_pk, r = _captured(bed, "ours", [og, "probe", "--config", str(cfg),
                                                     "--json", "--no-record"])
        if r.returncode != 0:
            print(r.stderr[-2000:])
            return
        doc = json.loads(r.stdout)
        cmd = probebed.nmap_command()
        nmap_s, nmap_pk, x = _captured(bed, "nmap", cmd)
        ref = probebed.parse_nmap(x.stdout)
        # for perspective: nmap's discovery and port scan alone, without -sV
        ports_only = [c for c in cmd if c != "-sV"]
        po_s, po_pk, _ = _captured(bed, "nmap-ports", ports_only)
        diff = probebed.disagreements(doc, ref, tuple(probebed.GUESTS))  # guests' own: not examined
        named = sum(1 for ports in ref.values() for p, v in ports.values() if p and v)
        print(f"testbed ({args.variant}): scope {' '.join(probebed.SCOPE)}, "
              f"{len(probebed.PORTS)} TCP ports, {len(ref)} hosts up for nmap")
        print(f"nmap command: {' '.join(cmd)}")
        print(f"probe cycle (scan+isolation+website): {ours_s:6.1f} s wall "
              f"({doc['duration_s']:.1f} s inside), {ours_pk} packets sent, "
              f"{len(doc['hosts'])} hosts, {len(doc['findings'])} findings")
        print(f"nmap -sT -sV -T4, same scope/ports:   {nmap_s:6.1f} s wall, "
              f"{nmap_pk} packets sent")
        print(f"ratio cycle/nmap: time {ours_s / nmap_s:.2f}x, packets {ours_pk / nmap_pk:.2f}x")
        print(f"(nmap without -sV, discovery and ports only: {po_s:.1f} s, {po_pk} packets)")
        print(f"agreement: open ports and products/versions ({named} named by nmap): "
              + ("same" if not diff else "DIFFERENT: " + "; ".join(diff)))
    finally:
        tb.close()
        if bed is not None:
            bed.close()
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
