"""ARP throughput of `officeguard ingest`, end to end, beside tshark on the same file.

    make bench            (or: .venv/bin/python bench/bench_arp.py --frames 500000)

Generates a capture of ARP requests, replies and gratuitous announcements among a few thousand
stations (plus a share of IPv4 frames the sensor must skip), then times the real command
(`officeguard ingest --json` into a fresh database) and `tshark -Y arp -T fields` on it.
"""

from __future__ import annotations

import argparse
import random
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from agent.capture import write_pcap  # noqa: E402
from bench._common import run_child  # noqa: E402


def _mac(i: int) -> bytes:
    return bytes([0x00, 0x00, 0x5E, 0x00, (i >> 8) & 0xFF, i & 0xFF])


def _ip(i: int) -> bytes:
    # shared address space (100.64.0.0/10): unique per station, never routed anywhere
    return socket.inet_aton(f"100.{64 + (i >> 16)}.{(i >> 8) & 0xFF}.{i & 0xFF}")


def generate(path: Path, frames: int, stations: int, seed: int = 7) -> None:
    rnd = random.Random(seed)
    out = []
    ts = 1_700_000_000.0
    bcast = b"\xff" * 6
    for _n in range(frames):
        ts += 0.0005
        a, b = rnd.randrange(stations), rnd.randrange(stations)
        r = rnd.random()
        if r < 0.05:  # IPv4 noise the ARP sensor must skip
            out.append((ts, _mac(b) + _mac(a) + b"\x08\x00" + b"\x45" + b"\x00" * 45))
            continue
        op = 1 if r < 0.6 else 2
        tgt = a if r > 0.95 else b  # a few gratuitous announcements
        payload = struct.pack("!HHBBH", 1, 0x0800, 6, 4, op) + _mac(a) + _ip(a) + (
            b"\x00" * 6 if op == 1 else _mac(tgt)) + _ip(tgt)
        out.append((ts, (bcast if op == 1 else _mac(tgt)) + _mac(a) + b"\x08\x06" + payload))
    write_pcap(path, 1, out)




def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=500_000)
    ap.add_argument("--stations", type=int, default=2000)
    ap.add_argument("--generate-only", metavar="PATH", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.generate_only:
        generate(Path(args.generate_only), args.frames, args.stations)
        return
    officeguard = str(Path(sys.executable).with_name("officeguard"))
    with tempfile.TemporaryDirectory() as tmp:
        cap = Path(tmp) / "arp.pcap"
        t0 = time.perf_counter()
        # in a child, so this process stays small: a child's peak RSS includes what it shared
        # with its parent before exec
        subprocess.run([sys.executable, __file__, "--frames", str(args.frames), "--stations",
                        str(args.stations), "--generate-only", str(cap)], check=True)
        print(f"generated {args.frames:,} frames ({cap.stat().st_size / 1e6:.1f} MB, "
              f"{args.stations} stations) in {time.perf_counter() - t0:.1f} s")
        db = Path(tmp) / "bench.db"
        secs, rss = run_child([officeguard, "ingest", str(cap), "--db", str(db), "--json"])
        print(f"officeguard ingest --json: {secs:.2f} s, {args.frames / secs:,.0f} frames/s "
              f"end to end, peak RSS {rss:.0f} MB")
        tshark = shutil.which("tshark")
        if tshark:
            secs_t, _ = run_child([tshark, "-r", str(cap), "-Y", "arp", "-T", "fields",
                               "-e", "arp.src.proto_ipv4", "-e", "arp.src.hw_mac"])
            print(f"tshark -Y arp -T fields: {secs_t:.2f} s, {args.frames / secs_t:,.0f} frames/s"
                  f" (officeguard is {secs_t / secs:.1f}x tshark's rate)")
        else:
            print("tshark not installed: no comparison")


if __name__ == "__main__":
    main()
