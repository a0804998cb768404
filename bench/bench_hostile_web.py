"""Hostile clients against the real `officeguard web` on loopback (issue #14): oversized
bodies (declared and streamed), slow clients that dribble their headers, and plain requests
meanwhile. Prints the answers, the /health latency during the attack and the web process's
peak RSS (sampled from /proc every 20 ms). Loopback only; bounded in time.

    .venv/bin/python bench/bench_hostile_web.py [--slow 100] [--seconds 20]
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXE = str(Path(sys.executable).with_name("officeguard"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def big_declared(port: int) -> int:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        c.putrequest("POST", "/api/findings/1/status")
        c.putheader("Content-Type", "application/json")
        c.putheader("Content-Length", str(400 * 2**20))
        c.endheaders()
        with contextlib.suppress(OSError):
            c.send(b"[" * 2**20)
        return c.getresponse().status
    except OSError:
        return -1
    finally:
        c.close()


def big_streamed(port: int, mib: int = 8) -> int:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        c.putrequest("POST", "/login")
        c.putheader("Content-Type", "application/x-www-form-urlencoded")
        c.putheader("Transfer-Encoding", "chunked")
        c.endheaders()
        chunk = b"a" * 65536
        try:
            for _ in range(mib * 16):
                c.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            c.send(b"0\r\n\r\n")
        except OSError:
            pass
        return c.getresponse().status
    except OSError:
        return 413  # closed by the server after its answer
    finally:
        c.close()


def slow_client(port: int, stop: threading.Event) -> None:
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(b"POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        while not stop.wait(0.5):
            s.sendall(b"X-a: b\r\n")
        s.close()
    except OSError:
        pass


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--slow", type=int, default=100, help="slow clients at once")
    ap.add_argument("--seconds", type=float, default=20.0)
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="og-hostile-"))
    port = free_port()
    cfg = tmp / "og.toml"
    cfg.write_text(f'[storage]\ndata_dir = "{tmp / "data"}"\n[web]\nhost = "127.0.0.1"\n'
                   f'port = {port}\nsetup_code_file = "{tmp / "none"}"\n')
    log = (tmp / "web.log").open("wb")
    web = subprocess.Popen([EXE, "web", "--insecure-http", "--config", str(cfg)],
                           stdout=subprocess.DEVNULL, stderr=log)
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.wait(0.02):
            peak = max(peak, rss_kib(web.pid))

    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline or web.poll() is not None:
                    print((tmp / "web.log").read_text()[-2000:])
                    return 1
                time.sleep(0.1)
        idle = rss_kib(web.pid)
        threading.Thread(target=sample, daemon=True).start()
        answers: Counter[str] = Counter()
        threads = [threading.Thread(target=lambda: answers.update(
            [f"400MB declared → {big_declared(port)}"])) for _ in range(20)]
        threads += [threading.Thread(target=lambda: answers.update(
            [f"8MiB chunked → {big_streamed(port)}"])) for _ in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        stop = threading.Event()
        slow = [threading.Thread(target=slow_client, args=(port, stop), daemon=True)
                for _ in range(a.slow)]
        for t in slow:
            t.start()
        lat, codes = [], Counter()
        end = time.monotonic() + a.seconds
        while time.monotonic() < end:
            t0 = time.perf_counter()
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                c.request("GET", "/health")
                codes[c.getresponse().status] += 1
                c.close()
            except OSError as exc:
                codes[type(exc).__name__] += 1
            lat.append((time.perf_counter() - t0) * 1000)
            time.sleep(0.1)
        stop.set()
        for t in slow:
            t.join(5)
        done.set()
        print(f"web RSS idle: {idle / 1024:.1f} MB; peak during the run: {peak / 1024:.1f} MB")
        for k, v in sorted(answers.items()):
            print(f"  {v} × {k}")
        print(f"/health during {a.slow} slow clients ({a.seconds:.0f} s): {dict(codes)}, "
              f"median {statistics.median(lat):.1f} ms, max {max(lat):.1f} ms")
        ok = peak < 120 * 1024 and all(k.endswith("413") for k in answers) and \
            set(codes) == {200}
        print("OK" if ok else "FAILED")
        return 0 if ok else 1
    finally:
        done.set()
        web.terminate()
        web.wait(30)
        log.close()
        os.environ.get("KEEP") or __import__("shutil").rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
