"""`make fuzz-inputs`: the pcap/pcapng and config-loader fuzz targets of
tests/test_fuzz_inputs.py, repeated with Hypothesis's `long` profile until each has run for
`--minutes` (default 10). Outside CI; CI runs the same targets briefly (`ci` profile).

Exit 1 on the first input that raised anything but CaptureError/ConfigError (Hypothesis prints
the shrunk input), else prints how many inputs each target tried.

    .venv/bin/python bench/fuzz_inputs.py [--minutes 10] [--targets pcap,pcapng,config]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("OFFICEGUARD_FUZZ_PROFILE", "long")

from tests import test_fuzz_inputs as t  # noqa: E402

TARGETS = {
    "pcap": [t.test_fuzz_pcap],
    "pcapng": [t.test_fuzz_pcapng],
    "config": [t.test_fuzz_config_mapping, t.test_fuzz_config_text,
               t.test_fuzz_settings_round_trip],
}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--targets", default="pcap,pcapng,config")
    a = ap.parse_args()
    per_call = t.settings.get_profile("long").max_examples
    for name in a.targets.split(","):
        deadline = time.monotonic() + a.minutes * 60
        started = time.monotonic()
        runs = 0
        while time.monotonic() < deadline:
            for fn in TARGETS[name]:
                fn()  # each call: a fresh random batch of `per_call` inputs (plus the seeds)
                runs += per_call
        print(f"{name}: {runs} inputs in {time.monotonic() - started:.0f} s, no traceback, "
              "no crash", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
