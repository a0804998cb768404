"""Wi-Fi throughput and memory of `officeguard ingest`, beside tshark on the same file.

    make bench            (or: .venv/bin/python bench/bench_wifi.py --frames 500000 --aps 5000)

Generates a radiotap capture: beacons of many APs with varied security (open, WEP, WPA, WPA2
with and without PMF and WPS, WPA3, transition, enterprise), a TIM element whose DTIM count
cycles as on real APs, probe responses, deauthentications and protected data frames that the
sensor must skip. Times the real command (`officeguard ingest --json` into a fresh database) and
`tshark -T fields` extracting the same fields, each as a child process, and reports each one's
peak resident memory.
"""

from __future__ import annotations

import argparse
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from agent.capture import write_pcap  # noqa: E402
from bench._common import run_child  # noqa: E402
from tests import wifigen as g  # noqa: E402

SECURITIES = ["WPA2", "WPA2", "WPA2", "WPA3", "WPA2/WPA3", "WPA2-TKIP", "WPA/WPA2", "WPA",
              "OPEN", "WEP"]
TSHARK_FIELDS = ("wlan.bssid", "wlan.ssid", "wlan.ds.current_channel",
                 "wlan.fixed.capabilities.privacy", "wlan.rsn.akms.type", "wlan.rsn.pcs.type",
                 "wlan.rsn.gcs.type", "wlan.rsn.capabilities.mfpr", "wps.version",
                 "wlan_radio.frequency", "wlan_radio.signal_dbm")


def generate(path: Path, frames: int, aps: int, seed: int = 11) -> dict[str, int]:
    rnd = random.Random(seed)
    templates = []
    for i in range(aps):
        bssid = f"00:{(i >> 16) & 0xff:02x}:5e:{(i >> 8) & 0xff:02x}:{i & 0xff:02x}:01"
        sec = SECURITIES[i % len(SECURITIES)]
        ch = (1, 6, 11, 36, 44, 149)[i % 6]
        freq = 2407 + 5 * ch if ch < 15 else 5000 + 5 * ch
        wps_ie = g.wps(state=2, locked=bool(i % 3)) if i % 4 == 0 else b""
        ssid = f"office-{i}" if i % 17 else ""
        templates.append((bssid, ssid, ch, freq, sec, wps_ie, i % 2 == 0))
    counts = {"beacons": 0, "probe_responses": 0, "deauth": 0, "data": 0}
    out = []
    ts = 1_700_000_000.0
    for n in range(frames):
        ts += 0.0002
        bssid, ssid, ch, freq, sec, wps_ie, pmf = templates[rnd.randrange(aps)]
        r = rnd.random()
        sig = -30 - rnd.randrange(60)
        if r < 0.68:
            # a TIM right after the DS element whose DTIM count cycles, as on real APs
            f = g.beacon(bssid, ssid, channel=ch, security=sec, pmf=pmf, wps_ie=wps_ie,
                         tim=bytes([n % 3, 3, 0, 0]))
            counts["beacons"] += 1
        elif r < 0.78:
            f = g.beacon(bssid, ssid or "revealed", channel=ch, security=sec, pmf=pmf,
                         wps_ie=wps_ie, subtype=5, da="02:00:00:00:00:09")
            counts["probe_responses"] += 1
        elif r < 0.80:
            f = g.deauth(bssid, "02:00:00:00:00:09")
            counts["deauth"] += 1
        else:
            f = g.data_frame(bssid, "02:00:00:00:00:09", size=rnd.randrange(40, 400))
            counts["data"] += 1
        out.append((ts, g.radiotap(f, freq=freq, signal=sig, tsft=n)))
    write_pcap(path, 127, out)
    return counts




def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=500_000)
    ap.add_argument("--aps", type=int, default=5000)
    ap.add_argument("--generate-only", metavar="PATH", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.generate_only:
        print(generate(Path(args.generate_only), args.frames, args.aps))
        return
    officeguard = str(Path(sys.executable).with_name("officeguard"))
    with tempfile.TemporaryDirectory() as tmp:
        cap = Path(tmp) / "wifi.pcap"
        t0 = time.perf_counter()
        # Generated in a child process, so this one stays small: a child's peak RSS as the
        # kernel reports it includes what it shared with its parent before exec.
        counts = subprocess.run(
            [sys.executable, __file__, "--frames", str(args.frames), "--aps", str(args.aps),
             "--generate-only", str(cap)], check=True, capture_output=True, text=True
        ).stdout.strip()
        print(f"generated {args.frames:,} frames for {args.aps:,} APs "
              f"({cap.stat().st_size / 1e6:.0f} MB; {counts}) in {time.perf_counter() - t0:.1f} s")
        secs, rss = run_child([officeguard, "ingest", str(cap), "--db", str(Path(tmp) / "b.db"),
                               "--json"])
        print(f"officeguard ingest --json: {secs:.2f} s, {args.frames / secs:,.0f} frames/s end "
              f"to end, peak RSS {rss:.0f} MB")
        tshark = shutil.which("tshark")
        if not tshark:
            print("tshark not installed: no comparison")
            return
        cmd = [tshark, "-r", str(cap), "-Y",
               "wlan.fc.type_subtype == 8 || wlan.fc.type_subtype == 5", "-T", "fields"]
        for f in TSHARK_FIELDS:
            cmd += ["-e", f]
        secs_t, rss_t = run_child(cmd)
        print(f"tshark -T fields ({len(TSHARK_FIELDS)} fields): {secs_t:.2f} s, "
              f"{args.frames / secs_t:,.0f} frames/s, peak RSS {rss_t:.0f} MB")
        print(f"ratio: officeguard runs at {secs_t / secs:.2f}x tshark's rate")


if __name__ == "__main__":
    main()
