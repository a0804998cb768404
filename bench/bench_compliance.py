"""Time of one compliance evaluation from a real store: `gather_facts` (findings, attestations
with their evidence re-hashed, what probes and sensors examined) plus `evaluate`, for a store
with 10,000 active findings, 200 probe cycles of 60 checks and every attestable check attested
with a 1 MB evidence file. Printed, never asserted.

    .venv/bin/python bench/bench_compliance.py
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from appliance import attestations as att  # noqa: E402
from appliance.compliance import evaluate  # noqa: E402
from appliance.config import from_mapping  # noqa: E402
from appliance.findings import FindingDraft, apply_drafts  # noqa: E402
from appliance.guideline import load_catalog  # noqa: E402
from appliance.store import Store  # noqa: E402


def main() -> None:
    catalog = load_catalog()
    with tempfile.TemporaryDirectory() as d:
        config = from_mapping({"storage": {"data_dir": d}})
        db = Path(d) / "officeguard.db"
        now = time.time()
        with Store(db) as store:
            rules = [("lan.unknown_station", "3-8", "low"), ("wifi.no_pmf", "3-3", "medium"),
                     ("probe.exposed_service", "4-3", "medium")]
            for k in range(0, 10_000, 1000):
                store.write(lambda c, k=k: apply_drafts(c, [FindingDraft(
                    rules[i % 3][0], rules[i % 3][1], rules[i % 3][2], f"s{i}", "t", "t",
                    now - i) for i in range(k, k + 1000)]))
            checks = [{"check": "firmware", "measure": "4-1", "result": "pass",
                       "subject": f"192.0.2.{i}", "coverage": "probe.firmware.device",
                       "examined": [f"192.0.2.{i} printer"]} for i in range(60)]
            store.write(lambda c: c.executemany(
                "INSERT INTO probe_runs (started_at, finished_at, jobs, scope, hosts, "
                "open_ports, checks, coverage, refused, errors, packets) VALUES "
                "(?,?,'[]','[]',60,0,?,'[]','[]','[]',0)",
                [(now - i * 3600, now - i * 3600 + 60, json.dumps(checks))
                 for i in range(200)]))
            src = Path(d) / "evidence.pdf"
            src.write_bytes(b"x" * 2**20)
            ev = [(src.name, *att.store_evidence(config, src))]
            n = 0
            for m in catalog.measures:
                for c in m.checks:
                    if c["kind"] == "attest" and not m.unidentified:
                        store.write(lambda conn, m=m, c=c: att.record(
                            conn, catalog, m.id, c["id"], "pass", "bench", "", 30, ev))
                        n += 1
            for label, fresh in (("first (evidence hashed)", True), ("cached hashes", False)):
                times = []
                for _ in range(5 if fresh else 20):
                    if fresh:
                        att._VERIFIED.clear()
                    t0 = time.perf_counter()
                    doc = store.read_with(lambda c: evaluate(
                        catalog, att.gather_facts(c, config, catalog, per_group=2)))
                    times.append(time.perf_counter() - t0)
                ms = statistics.median(times) * 1000
                print(f"compliance evaluation, {label}: median {ms:.1f} ms"
                      f" (10,000 findings, 200 probe runs, {n} attestations with 1 MB evidence;"
                      f" level {doc['estimate']['level']})")


if __name__ == "__main__":
    main()
