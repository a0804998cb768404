"""Wi-Fi throughput and memory of `officeguard ingest`, beside tshark on the same file.

    make bench            (or: .venv/bin/python bench/bench_wifi.py --frames 500000 --aps 5000)

Generates a radiotap capture: beacons of many APs with varied security (open, WEP, WPA, WPA2
with and without PMF and WPS, WPA3, transition, enterprise), a TIM element whose DTIM count
cycles as on real APs, probe responses, deauthentications and protected data frames that the
sensor must skip. Times the real command (`officeguard ingest --json` into a fresh database) and
`tshark -T fields` extracting the same fields, each as a whole child process (start-up, reading,
parsing, and for officeguard the store writes and the JSON of every AP), the fastest of five
runs each, the two taking turns; reports wall time, CPU time and each one's peak resident
memory. officeguard runs with its modules byte-compiled, as the appliance has them (pip
compiles a package when it installs it), even where the shell sets PYTHONDONTWRITEBYTECODE.

Then the live agent's CPU: the real `Agent` run loop (bench/_live_agent_child.py) receives the
same frame mix, one datagram per frame, at 1,000 frames/s, and its CPU time over that window is
compared with the same window idle. This machine has no monitor radio, so the frames come from a
Unix datagram socket instead of AF_PACKET (one recv per frame either way). The figure is scaled
to a Raspberry Pi 4 on paper: by this core's clock over the Pi's 1.5 GHz, times an assumed
per-clock CPython speed ratio of 2 (see `pi4_factor`); no Pi was measured.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psutil  # noqa: E402

from agent.capture import read_records, write_pcap  # noqa: E402
from bench._common import installed_env, run_child_usage  # noqa: E402
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




# A Pi 4 on paper: its Cortex-A72 runs at 1.5 GHz and, per clock, runs CPython about half as
# fast as a current x86-64 server core (ASSUMED_IPC_RATIO); so a figure measured here is scaled
# by (this core's clock / 1.5 GHz) x 2. This is an assumption, not a measurement: run this
# benchmark on a Pi to replace it.
PI4_MHZ = 1500.0
ASSUMED_IPC_RATIO = 2.0
REPEAT = 5  # each command runs this many times, in turns; the fastest counts (noise only adds)


def cpu_mhz() -> float | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("cpu MHz"):
                return float(line.split(":")[1])
    except (OSError, ValueError):
        pass
    return None


def pi4_factor() -> tuple[float, str]:
    mhz = cpu_mhz()
    if mhz is None:
        return 4.0, "clock unknown: assumed 4x slower per core"
    f = mhz / PI4_MHZ * ASSUMED_IPC_RATIO
    return f, (f"{mhz:.0f} MHz here / {PI4_MHZ:.0f} MHz on a Pi 4 x {ASSUMED_IPC_RATIO:g} "
               f"(assumed per-clock CPython speed of this core over a Cortex-A72) = {f:.1f}x")


def _agent_frames(db: Path) -> int:
    """The frames the agent counted, from its last heartbeat in the store (0 before one)."""
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as c:
            row = c.execute("SELECT value FROM meta WHERE key = 'agent'").fetchone()
    except sqlite3.Error:
        return 0
    return int(json.loads(row[0])["frames"]) if row else 0


def live_cpu(cap: Path, tmp: Path, rate: float = 1000.0, seconds: float = 20.0,
             env: dict[str, str] | None = None, warm: int = 0) -> tuple[float, float, int]:
    """(CPU % of one core at RATE frames/s, CPU % idle, frames the agent counted) of the live
    agent, each over SECONDS. With WARM, the agent is first given the capture's first WARM
    frames as fast as it takes them (it learns the APs), and the windows use the frames after
    them: the steady state of a site whose APs are known, not the first minutes of one."""
    frames = [d for _ts, _lt, d in read_records(cap)][: warm + int(rate * seconds) + 1]
    sock, data = tmp / f"radio-{warm}.sock", tmp / f"live-{warm}"
    child = subprocess.Popen([sys.executable, str(Path(__file__).with_name(
        "_live_agent_child.py")), str(sock), str(data)], stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, env=env)
    try:
        db = data / "officeguard.db"
        deadline = time.monotonic() + 120
        while True:  # ready when its first heartbeat is in the store
            if child.poll() is not None:
                raise SystemExit("the live agent did not start")
            if db.exists() and sock.exists():
                try:
                    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as c:
                        if c.execute("SELECT 1 FROM meta WHERE key = 'agent'").fetchone():
                            break
                except sqlite3.Error:
                    pass
            if time.monotonic() > deadline:
                raise SystemExit("the live agent did not start within 120 s")
            time.sleep(0.1)
        proc = psutil.Process(child.pid)
        tx = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        i = 0
        while i < warm:  # as fast as the agent's socket takes them
            try:
                tx.sendto(frames[i], str(sock))
                i += 1
            except BlockingIOError:
                time.sleep(0.001)
        deadline = time.monotonic() + 300
        while _agent_frames(db) < warm:  # counted (its heartbeat says so)
            if child.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("the live agent did not take the warm-up frames")
            time.sleep(0.2)
        frames = frames[warm:]

        def window(send: bool) -> float:
            c0 = sum(proc.cpu_times()[:2])
            t0 = time.monotonic()
            i = 0
            while (now := time.monotonic() - t0) < seconds:
                due = min(int(now * rate), len(frames) - 1) if send else 0
                while send and i < due:
                    try:
                        tx.sendto(frames[i], str(sock))
                    except BlockingIOError:
                        time.sleep(0.001)
                        continue
                    i += 1
                time.sleep(0.002)
            return (sum(proc.cpu_times()[:2]) - c0) / (time.monotonic() - t0) * 100

        idle = window(send=False)
        busy = window(send=True)
    finally:
        child.terminate()
        child.wait(60)
        if sock.exists():
            os.unlink(sock)
    return busy, idle, _agent_frames(db) - warm


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
        db = Path(tmp) / "b.db"

        def ingest_cmd() -> list[str]:
            for f in Path(tmp).glob("b.db*"):  # a fresh database for every run
                f.unlink()
            return [officeguard, "ingest", str(cap), "--db", str(db), "--json"]

        print("officeguard ingest --json: reads every frame, parses radiotap and 802.11, keeps "
              "the AP inventory (security, PMF, WPS, RSSI, channels), runs the Wi-Fi rules, "
              "writes APs, events and findings to a fresh SQLite database, and prints the "
              "JSON report with every AP record")
        env = installed_env(str(Path(tmp) / "pycache"))
        if "PYTHONDONTWRITEBYTECODE" in os.environ:
            print("  (its modules byte-compiled, as pip installs them on the appliance; this "
                  "shell sets PYTHONDONTWRITEBYTECODE, which would compile every module at "
                  "every start)")
        run_child_usage(ingest_cmd(), env)  # compiles the modules; not timed
        tshark = shutil.which("tshark")
        cmd = [tshark or "tshark", "-r", str(cap), "-Y",
               "wlan.fc.type_subtype == 8 || wlan.fc.type_subtype == 5", "-T", "fields"]
        for f in TSHARK_FIELDS:
            cmd += ["-e", f]
        # the two commands take turns, so a busier moment of the machine falls on both
        runs, runs_t = [], []
        for _ in range(REPEAT):
            runs.append(run_child_usage(ingest_cmd(), env))
            if tshark:
                runs_t.append(run_child_usage(cmd))
        secs, rss, cpu = min(runs)
        print(f"  {secs:.2f} s (best of {REPEAT}), {cpu:.2f} s CPU, "
              f"{args.frames / secs:,.0f} frames/s end to end, peak RSS {rss:.0f} MB "
              f"(max of runs {max(r[1] for r in runs):.0f} MB)")
        if not tshark:
            print("tshark not installed: no comparison")
            return
        print(f"tshark -T fields: dissects every frame, keeps beacons and probe responses and "
              f"prints {len(TSHARK_FIELDS)} fields of each ({', '.join(TSHARK_FIELDS)}); no "
              "aggregation, no database")
        secs_t, rss_t, cpu_t = min(runs_t)
        print(f"  {secs_t:.2f} s (best of {REPEAT}), {cpu_t:.2f} s CPU, "
              f"{args.frames / secs_t:,.0f} frames/s, peak RSS {rss_t:.0f} MB")
        print(f"ratio: officeguard runs at {secs_t / secs:.2f}x tshark's rate (wall, whole "
              f"process to whole process); {cpu_t / cpu:.2f}x by CPU time")
        factor, why = pi4_factor()
        for warm, what in ((0, "a fresh agent: the capture's first 20 s, in which it meets "
                            "its 5,000 APs (each new AP parsed, confirmed, written)"),
                           (200_000, "after 200,000 frames: the APs known, the steady state")):
            busy, idle, got = live_cpu(cap, Path(tmp), env=env, warm=warm)
            per = busy - idle
            print(f"live agent, {what} ({got:,} frames received in 20 s): {busy:.1f} % of one "
                  f"core at 1,000 frames/s ({idle:.1f} % idle), so {per:.1f} % of a core per "
                  "1,000 frames/s here")
            print(f"  a Pi 4 on paper ({why}): about {per * factor:.0f} % of one of its four "
                  "cores per 1,000 frames/s")
        print(f"ingest on a Pi 4 on paper: about {args.frames / cpu / factor:,.0f} frames per "
              "CPU second")


if __name__ == "__main__":
    main()
