"""The web process's memory after it has served every page once (a small store), and whether
it loaded the cryptography library or started a process. Prints figures; asserts nothing.

    python bench/bench_web_rss.py

(No probe scope is configured and nothing is posted: run against an older checkout, whose
dashboard started probes itself, it sends no packet either.)
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx  # noqa: E402

from appliance.store import Store  # noqa: E402
from web import security as sec  # noqa: E402

PASSWORD = "bench-password-not-a-default-7"
PAGES = ("/", "/findings", "/measures", "/wifi", "/devices", "/rental", "/probes", "/exports",
         "/settings", "/system", "/api/overview", "/api/findings")


def status(pid: int, key: str) -> int:
    return next(int(line.split()[1]) for line in
                Path(f"/proc/{pid}/status").read_text().splitlines() if line.startswith(key))


def main() -> None:
    d = Path(tempfile.mkdtemp(prefix="og-bench-rss-"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg = d / "c.toml"
    cfg.write_text(f'[storage]\ndata_dir = "{d}"\n[web]\nport = {port}\n'
                   f'setup_code_file = "{d / "none"}"\n')
    with Store(d / "officeguard.db") as store:
        store.write(lambda c: sec.create_user(c, "bench", PASSWORD, "admin"))
    web = subprocess.Popen([sys.executable, "-m", "appliance.cli", "web", "--config", str(cfg),
                            "--insecure-http"], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, env={**os.environ, "MALLOC_ARENA_MAX": "2"})
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base, timeout=60) as c:
            c.post("/login", data={"username": "bench", "password": PASSWORD})
            for p in PAGES:
                r = c.get(p)
                assert r.status_code == 200, (p, r.status_code)
            for p in PAGES:
                c.get(p)
        maps = Path(f"/proc/{web.pid}/maps").read_text()
        children = Path(f"/proc/{web.pid}/task/{web.pid}/children").read_text().split()
        print(f"web process after every page twice: RSS {status(web.pid, 'VmRSS:') / 1024:.0f} "
              f"MB, peak (VmHWM) {status(web.pid, 'VmHWM:') / 1024:.0f} MB")
        print(f"cryptography mapped: {'cryptography' in maps}; child processes: {len(children)}")
    finally:
        web.terminate()
        web.wait(30)


if __name__ == "__main__":
    main()
