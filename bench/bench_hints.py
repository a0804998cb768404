"""Passive OS hints (DHCP, mDNS, NetBIOS) through `officeguard ingest`, beside tshark decoding the
same packets' fields on the same file.

    make bench            (or: .venv/bin/python bench/bench_hints.py --frames 200000)

Generates a capture of DHCP requests (Windows-, macOS-, Android- and udhcpc-like), mDNS
responses and NetBIOS name registrations from a few thousand clients, with a share of ARP, then
times the real command (`officeguard ingest --json` into a fresh database, which decodes every
packet and writes the hints) and `tshark -Y "dhcp or mdns or nbns" -T fields` (which decodes the
same packets and prints the fields the hints are made of: option 55, 60, 12, mDNS names, NetBIOS
names). Both read every frame; tshark writes no database.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sqlite3
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

PRLS = [bytes([1, 3, 6, 15, 31, 33, 43, 44, 46, 47, 119, 121, 249, 252]),
        bytes([1, 121, 3, 6, 15, 108, 114, 119, 252, 95, 44, 46]),
        bytes([1, 3, 6, 15, 26, 28, 51, 58, 59, 43]), bytes([1, 3, 6, 12, 15, 28, 42])]
VENDORS = [b"MSFT 5.0", b"", b"android-dhcp-14", b"udhcp 1.35.0"]


def _csum(h: bytes) -> int:
    s = sum(struct.unpack(f"!{len(h) // 2}H", h))
    s = (s >> 16) + (s & 0xFFFF)
    return (~(s + (s >> 16))) & 0xFFFF


def _ipv4_udp(src: bytes, dst: bytes, sport: int, dport: int, payload: bytes) -> bytes:
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0, src, dst)
    h = h[:10] + struct.pack("!H", _csum(h)) + h[12:]
    return h + udp


def _mac(i: int) -> bytes:
    return bytes([0x02, 0x00, 0x5E, 0x10, (i >> 8) & 0xFF, i & 0xFF])


def _dhcp(i: int, kind: int) -> bytes:
    opts = b"\x35\x01\x03" + b"\x37" + bytes([len(PRLS[kind])]) + PRLS[kind]
    if VENDORS[kind]:
        opts += b"\x3c" + bytes([len(VENDORS[kind])]) + VENDORS[kind]
    name = f"client-{i}".encode()
    opts += b"\x0c" + bytes([len(name)]) + name + b"\xff"
    bootp = (struct.pack("!BBBBIHH", 1, 1, 6, 0, i, 0, 0) + bytes(16) + _mac(i) + bytes(10)
             + bytes(192) + b"\x63\x82\x53\x63" + opts)
    return _ipv4_udp(bytes(4), b"\xff" * 4, 68, 67, bootp)


def _label(s: str) -> bytes:
    return b"".join(bytes([len(x)]) + x.encode() for x in s.split(".")) + b"\x00"


def _mdns(i: int) -> bytes:
    name = _label(f"host-{i}.local")
    msg = struct.pack("!HHHHHH", 0, 0x8400, 0, 1, 0, 0) + name + struct.pack(
        "!HHIH", 1, 0x8001, 120, 4) + bytes([100, 64, i >> 8 & 0xFF, i & 0xFF])
    return _ipv4_udp(bytes([100, 64, i >> 8 & 0xFF, i & 0xFF]), bytes([224, 0, 0, 251]),
                     5353, 5353, msg)


def _nbns(i: int) -> bytes:
    raw = f"PC-{i:05d}".ljust(15).encode() + b"\x20"
    enc = bytes(x for b in raw for x in (0x41 + (b >> 4), 0x41 + (b & 0xF)))
    msg = (struct.pack("!HHHHHH", i & 0xFFFF, 0x2910, 1, 0, 0, 1) + b"\x20" + enc + b"\x00"
           + struct.pack("!HH", 0x20, 1) + b"\xc0\x0c" + struct.pack("!HHIHH", 0x20, 1, 300000,
                                                                       6, 0)
           + bytes([100, 64, i >> 8 & 0xFF, i & 0xFF]))
    return _ipv4_udp(bytes([100, 64, i >> 8 & 0xFF, i & 0xFF]), bytes([100, 64, 255, 255]),
                     137, 137, msg)


def generate(path: Path, frames: int, clients: int, seed: int = 11) -> None:
    rnd = random.Random(seed)
    out = []
    ts = 1_700_000_000.0
    for _n in range(frames):
        ts += 0.001
        i = rnd.randrange(clients)
        r = rnd.random()
        if r < 0.1:  # ARP among them
            body = b"\x08\x06" + struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1) + _mac(i) + bytes(
                [100, 64, i >> 8 & 0xFF, i & 0xFF]) + bytes(6) + bytes([100, 64, 0, 1])
        elif r < 0.5:
            body = b"\x08\x00" + _dhcp(i, i % 4)
        elif r < 0.8:
            body = b"\x08\x00" + _mdns(i)
        else:
            body = b"\x08\x00" + _nbns(i)
        out.append((ts, b"\xff" * 6 + _mac(i) + body))
    write_pcap(path, 1, out)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=200_000)
    ap.add_argument("--clients", type=int, default=2000)
    ap.add_argument("--generate-only", metavar="PATH", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.generate_only:
        generate(Path(args.generate_only), args.frames, args.clients)
        return
    officeguard = str(Path(sys.executable).with_name("officeguard"))
    with tempfile.TemporaryDirectory() as tmp:
        cap = Path(tmp) / "hints.pcap"
        t0 = time.perf_counter()
        subprocess.run([sys.executable, __file__, "--frames", str(args.frames), "--clients",
                        str(args.clients), "--generate-only", str(cap)], check=True)
        print(f"generated {args.frames:,} frames ({cap.stat().st_size / 1e6:.1f} MB, "
              f"{args.clients} clients) in {time.perf_counter() - t0:.1f} s")
        db = Path(tmp) / "bench.db"
        secs, rss = run_child([officeguard, "ingest", str(cap), "--db", str(db), "--json"])
        conn = sqlite3.connect(db)
        n = conn.execute("SELECT COUNT(*) FROM passive_hints").fetchone()[0]
        conn.close()
        print(f"officeguard ingest --json: {secs:.2f} s, {args.frames / secs:,.0f} frames/s "
              f"end to end, {n} hints stored (client, source), peak RSS {rss:.0f} MB")
        tshark = shutil.which("tshark")
        if tshark:
            secs_t, _ = run_child([tshark, "-r", str(cap), "-Y", "dhcp or mdns or nbns", "-T",
                                   "fields", "-e", "dhcp.option.request_list_item", "-e",
                                   "dhcp.option.vendor_class_id", "-e", "dhcp.option.hostname",
                                   "-e", "dns.resp.name", "-e", "nbns.name"])
            print(f"tshark -Y 'dhcp or mdns or nbns' -T fields: {secs_t:.2f} s, "
                  f"{args.frames / secs_t:,.0f} frames/s (officeguard is "
                  f"{secs_t / secs:.1f}x tshark's rate)")
        else:
            print("tshark not installed: no comparison")


if __name__ == "__main__":
    main()
