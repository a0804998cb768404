"""`make fuzz`: a million random and mutated frames through the real pipeline (outside CI).

Fails (exit 1) if any frame made a parser raise (the pipeline counts those as `undecodable`)
or if resident memory keeps growing once the bounded caches are full.

    .venv/bin/python bench/fuzz_wifi.py [--frames 1000000] [--seed 1]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from agent.pipeline import Pipeline, RunReport  # noqa: E402
from appliance.config import Config  # noqa: E402
from appliance.store import Store  # noqa: E402
from tests import arpgen  # noqa: E402
from tests import wifigen as g  # noqa: E402


def rss_mb() -> float:
    return int(Path("/proc/self/statm").read_text().split()[1]) * 4096 / 2**20


def seeds() -> list[tuple[int, bytes]]:
    return [
        (127, g.radiotap(g.beacon("02:00:5e:10:00:01", "Guest", security="WPA2", pmf=True,
                                  wps_ie=g.wps(locked=False), tim=b"\x00\x01\x00\x00"))),
        (127, g.radiotap(g.beacon("02:00:5e:10:00:02", "Staff", security="WPA/WPA2",
                                  subtype=5), fcs=True)),
        (127, g.radiotap(g.deauth("02:00:5e:10:00:01", "02:00:5e:99:00:01"))),
        (127, g.radiotap(g.beacon("02:00:5e:10:00:03", b"\x00\x00", security="WPA3"),
                         tsft=None)),
        (105, g.beacon("02:00:5e:10:00:04", "Open", security="OPEN")),
        (192, arpgen.ppi(arpgen.dot11_arp(1, "02:00:5e:00:53:0a", "192.0.2.10",
                                          "00:00:00:00:00:00", "192.0.2.1",
                                          "02:00:5e:00:53:01"))),
        (1, arpgen.ether_arp(2, "02:00:5e:00:53:0a", "192.0.2.10", "02:00:5e:00:53:0b",
                             "192.0.2.11")),
    ]


def mutate(rnd: random.Random, data: bytes) -> bytes:
    buf = bytearray(data)
    for _ in range(rnd.randrange(1, 9)):
        op = rnd.random()
        i = rnd.randrange(len(buf)) if buf else 0
        if op < 0.6 and buf:
            buf[i] = rnd.randrange(256)
        elif op < 0.8:
            buf[i:i] = bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 8)))
        elif buf:
            del buf[i:i + rnd.randrange(1, 8)]
    if rnd.random() < 0.3:
        buf = buf[: rnd.randrange(len(buf) + 1)]
    return bytes(buf)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    rnd = random.Random(args.seed)
    base = seeds()
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Config.model_validate({"facility": {"ssids": [{"name": "Guest"}]},
                                     "storage": {"data_dir": tmp}})
        with Store(Path(tmp) / "fuzz.db") as store:
            pipe = Pipeline(cfg, store, report=RunReport(keep_events=False))  # as the agent
            marks = []
            t0 = time.perf_counter()
            for n in range(args.frames):
                if rnd.random() < 0.25:
                    lt = rnd.choice((1, 105, 127, 192))
                    data = rnd.randbytes(rnd.randrange(0, 300))
                else:
                    lt, data = rnd.choice(base)
                    data = mutate(rnd, data)
                pipe.feed_raw(float(n) * 0.001, lt, data)
                if n % 50_000 == 49_999:
                    pipe.flush()
                if n % 100_000 == 99_999:
                    marks.append(rss_mb())
                    print(f"{n + 1:>9,} frames  rss {marks[-1]:6.1f} MB  "
                          f"aps {len(pipe.wifi.aps):>6}  undecodable "
                          f"{pipe.report.undecodable}", flush=True)
            pipe.flush()
            secs = time.perf_counter() - t0
    growth = marks[-1] - marks[len(marks) // 3] if len(marks) >= 3 else 0.0
    print(f"{args.frames:,} frames in {secs:.1f} s; undecodable {pipe.report.undecodable}; "
          f"rss growth over the last two thirds {growth:+.1f} MB")
    if pipe.report.undecodable:
        print("FAIL: a parser raised on some frame (see the log above)")
        return 1
    if growth > 16:
        print("FAIL: memory keeps growing")
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
