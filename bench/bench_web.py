"""Dashboard latency under load: a store of 100,000 findings and 10,000 devices, 20 concurrent
clients on the overview and findings pages over HTTPS (the appliance's default), and the web
process's peak memory. Prints figures; asserts nothing."""

from __future__ import annotations

import asyncio
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx  # noqa: E402

from appliance.store import Store  # noqa: E402
from web import security as sec  # noqa: E402

FINDINGS, DEVICES, CLIENTS, SECONDS = 100_000, 10_000, 20, 15.0
PASSWORD = "bench-password-not-a-default-7"


def fill(db: Path) -> None:
    store = Store(db)
    rng = random.Random(1)
    rules = [("wifi.rogue_ap", "3-8"), ("wifi.weak_encryption", "3-3"), ("lan.unknown_station",
             "3-8"), ("probe.exposed_service", "4-3"), ("probe.default_credentials", "4-2")]
    sev = ["low", "medium", "high", "critical", "info"]
    st = ["open", "acknowledged", "resolved", "reopened"]
    now = time.time()

    def rows(c: object) -> None:
        c.executemany(  # type: ignore[attr-defined]
            "INSERT INTO findings (rule, measure, severity, subject, status, title_ja, title_en,"
            " first_seen, last_seen, updated_at, evidence) VALUES (?,?,?,?,?,?,?,?,?,?,'{}')",
            [(r, m, rng.choice(sev), f"192.0.2.{i % 250} #{i}", rng.choice(st),
              "検出事項 " + str(i), "finding " + str(i), now - i, now - i / 2, now)
             for i in range(FINDINGS) for r, m in [rules[i % len(rules)]]])
        c.executemany(  # type: ignore[attr-defined]
            "INSERT INTO stations (ip, mac, vendor, first_seen, last_seen, frames) "
            "VALUES (?,?,?,?,?,?)",
            [(f"2001:db8::{i:x}", f"02:00:5e:{i >> 16 & 255:02x}:"
              f"{i >> 8 & 255:02x}:{i & 255:02x}", "Vendor", now - 3600, now, 10)
             for i in range(DEVICES)])
        c.executemany(  # type: ignore[attr-defined]
            "INSERT INTO finding_history (finding_id, ts, change, status, severity) "
            "VALUES (?,?,?,?,?)", [(i + 1, now - i, "new", "open", "high")
                                   for i in range(0, FINDINGS, 10)])
        sec.create_user(c, "bench", PASSWORD, "admin")  # type: ignore[arg-type]

    store.write(rows, timeout=600)
    store.close()


def load_ab(base: str, cookie: str, path: str) -> str | None:
    """ApacheBench (C, one thread, keep-alive): the load generator takes little of the two
    cores, so the figures are the server's. Returns ab's summary line, or None without ab."""
    import re
    import shutil

    if shutil.which("ab") is None:
        return None
    r = subprocess.run(["ab", "-q", "-k", "-t", str(int(SECONDS)), "-n", "1000000",
                        "-c", str(CLIENTS), "-C", f"{sec.COOKIE}={cookie}", base + path],
                       capture_output=True, text=True, timeout=SECONDS + 60)
    done = re.search(r"Complete requests:\s+(\d+)", r.stdout)
    failed = re.search(r"Non-2xx responses:\s+(\d+)", r.stdout)
    pct = dict(re.findall(r"^\s+(\d+)%\s+(\d+)", r.stdout, re.M))
    rps = re.search(r"Requests per second:\s+([\d.]+)", r.stdout)
    if not (done and pct and rps):
        return f"ab failed: {r.stdout[-300:]} {r.stderr[-300:]}"
    return (f"{int(done.group(1)):,} requests ({failed.group(1) if failed else 0} non-2xx), "
            f"median {pct['50']} ms, p95 {pct['95']} ms, {float(rps.group(1)):.0f} req/s")


async def load(base: str, cookie: str, path: str) -> list[float]:
    lat: list[float] = []
    end = time.monotonic() + SECONDS

    async def worker() -> None:
        async with httpx.AsyncClient(base_url=base, verify=False,  # noqa: S501 (own cert)
                                     cookies={sec.COOKIE: cookie}, timeout=30) as c:
            while time.monotonic() < end:
                t0 = time.perf_counter()
                r = await c.get(path)
                lat.append(time.perf_counter() - t0)
                assert r.status_code == 200, r.status_code

    await asyncio.gather(*(worker() for _ in range(CLIENTS)))
    return lat


def main() -> None:
    d = Path(tempfile.mkdtemp(prefix="og-bench-web-"))
    cfg = d / "c.toml"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg.write_text(f'[storage]\ndata_dir = "{d}"\n[web]\nport = {port}\n'
                   f'setup_code_file = "{d / "none"}"\n')
    t0 = time.perf_counter()
    fill(d / "officeguard.db")
    print(f"store: {FINDINGS:,} findings, {DEVICES:,} devices "
          f"(filled in {time.perf_counter() - t0:.1f} s)")
    exe = str(Path(sys.executable).with_name("officeguard"))
    web = subprocess.Popen([exe, "web", "--config", str(cfg)], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    base = f"https://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        with httpx.Client(base_url=base, verify=False) as c:  # noqa: S501
            r = c.post("/login", data={"username": "bench", "password": PASSWORD})
            cookie = r.cookies[sec.COOKIE]
        import psutil

        proc = psutil.Process(web.pid)
        peak = 0.0
        for name, path in (("overview", "/"), ("findings", "/findings"),
                           ("findings API", "/api/findings?limit=50")):
            ab = load_ab(base, cookie, path)
            if ab is not None:
                print(f"{name:<13} ab, {CLIENTS} clients x {SECONDS:.0f} s: {ab}")
                peak = max(peak, proc.memory_info().rss / 2**20)
            lat = asyncio.run(load(base, cookie, path))
            peak = max(peak, proc.memory_info().rss / 2**20)
            q = statistics.quantiles(lat, n=100)
            print(f"{name:<13} httpx, {CLIENTS} clients x {SECONDS:.0f} s (client on the same "
                  f"2 cores): {len(lat):,} requests, median {statistics.median(lat) * 1000:.0f} "
                  f"ms, p95 {q[94] * 1000:.0f} ms, {len(lat) / SECONDS:.0f} req/s")
        print(f"web process RSS after load: {peak:.0f} MB")
        hwm = next(int(line.split()[1]) for line in
                   Path(f"/proc/{web.pid}/status").read_text().splitlines()
                   if line.startswith("VmHWM:"))
        print(f"web process peak RSS (VmHWM, the process alone): {hwm / 1024:.0f} MB")
    finally:
        web.terminate()
        os.wait4(web.pid, 0)


if __name__ == "__main__":
    main()
