"""Time and peak memory of `officeguard export` for a month with 10,000 findings and 2,000
devices (the real command, as a child process; its own peak RSS from wait4).

    make bench            (or: .venv/bin/python bench/bench_export.py)
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from appliance.findings import FindingDraft, apply_drafts  # noqa: E402
from appliance.store import Store  # noqa: E402
from bench._common import run_child  # noqa: E402


def fill(db: Path, findings: int, devices: int, t0: float) -> None:
    with Store(db) as store:
        rules = [("lan.unknown_station", "3-8", "low"), ("wifi.weak_encryption", "3-3", "high"),
                 ("wifi.rogue_ap", "3-8", "high"), ("wifi.no_pmf", "3-3", "low")]
        for k in range(0, findings, 1000):
            drafts = [FindingDraft(rules[i % 4][0], rules[i % 4][1], rules[i % 4][2],
                                   f"02:00:5e:{i >> 16 & 255:02x}:{i >> 8 & 255:02x}:"
                                   f"{i & 255:02x}", "t", "t", t0 + i * 200.0,
                                   evidence={"n": i, "mac": "02:11:22:33:44:55"})
                      for i in range(k, min(findings, k + 1000))]
            store.write(lambda c, d=drafts: apply_drafts(c, d))
        store.write(lambda c: c.executemany(
            "INSERT INTO stations (ip, mac, vendor, randomized, first_seen, last_seen, frames) "
            "VALUES (?, ?, ?, 0, ?, ?, 10)",
            [(f"100.64.{i >> 8}.{i & 255}", f"00:00:5e:00:{i >> 8:02x}:{i & 255:02x}",
              "Vendor", t0 + i, t0 + 86400 * 20 + i) for i in range(devices)]))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--findings", type=int, default=10_000)
    ap.add_argument("--devices", type=int, default=2_000)
    args = ap.parse_args()
    officeguard = str(Path(sys.executable).with_name("officeguard"))
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "data" / "officeguard.db"
        db.parent.mkdir()
        t0 = time.mktime(time.strptime("2026-10-01", "%Y-%m-%d"))
        fill(db, args.findings, args.devices, t0)
        cfg = Path(tmp) / "c.toml"
        cfg.write_text(f'[storage]\ndata_dir = "{db.parent}"\n')
        secs, rss = run_child([officeguard, "export", "--period", "2026-10", "--config",
                               str(cfg)])
        folder = next((db.parent / "exports").iterdir())
        pdf = folder / "report.pdf"
        print(f"export of a month with {args.findings:,} findings and {args.devices:,} devices: "
              f"{secs:.1f} s, peak RSS {rss:.0f} MB, report.pdf "
              f"{pdf.stat().st_size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
