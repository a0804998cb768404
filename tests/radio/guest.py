"""The radio VM's side of the testbed: a tiny command server on the shared folder.

Runs as root inside the virtme-ng guest (Debian's kernel, mac80211_hwsim). Standard library
only: every import costs seconds in an emulated machine. The host writes `req-N.json` into the
shared folder; this answers with `resp-N.json` (written under another name, then renamed, so the
host never reads half a file). Requests:

  {"op": "run", "argv": [...], "timeout": s}        run to completion: rc, out, err, elapsed
  {"op": "spawn", "name": n, "argv": [...], "log": path, "env": {...}}   start in background
  {"op": "stop", "name": n, "timeout": s}           SIGTERM, then SIGKILL after timeout: rc
  {"op": "poll", "name": n}                         rc (None while it runs)
  {"op": "quit"}                                    stop everything and power off
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

SHARE = Path(sys.argv[1])
procs: dict[str, subprocess.Popen[bytes]] = {}


def uptime() -> float:
    return float(Path("/proc/uptime").read_text().split()[0])


def handle(req: dict[str, Any]) -> dict[str, Any]:
    op = req["op"]
    env = {**os.environ, **req.get("env", {})}
    if op == "run":
        t0 = time.monotonic()
        try:
            res = subprocess.run(req["argv"], capture_output=True, timeout=req.get("timeout", 60),
                                 env=env, cwd=req.get("cwd"))
        except subprocess.TimeoutExpired as exc:
            return {"rc": None, "out": (exc.stdout or b"").decode(errors="replace"),
                    "err": f"timeout after {req.get('timeout')} s",
                    "elapsed": time.monotonic() - t0}
        except OSError as exc:
            return {"rc": 127, "out": "", "err": str(exc), "elapsed": time.monotonic() - t0}
        return {"rc": res.returncode, "out": res.stdout.decode(errors="replace"),
                "err": res.stderr.decode(errors="replace"), "elapsed": time.monotonic() - t0}
    if op == "spawn":
        old = procs.get(req["name"])
        if old is not None and old.poll() is None:
            return {"error": f"{req['name']} is already running"}
        log = open(req["log"], "ab")  # noqa: SIM115 - the child keeps it
        p = subprocess.Popen(req["argv"], stdout=log, stderr=subprocess.STDOUT, env=env,
                             cwd=req.get("cwd"), start_new_session=True)
        log.close()
        procs[req["name"]] = p
        return {"pid": p.pid}
    if op == "poll":
        p = procs.get(req["name"])
        return {"rc": None if p is None else p.poll(), "known": p is not None}
    if op == "stop":
        p = procs.pop(req["name"], None)
        if p is None:
            return {"rc": None, "known": False}
        if p.poll() is None:
            os.killpg(p.pid, req.get("signal", signal.SIGTERM))
            try:
                p.wait(req.get("timeout", 30))
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
                return {"rc": p.returncode, "killed": True}
        return {"rc": p.returncode, "killed": False}
    return {"error": f"unknown op {op!r}"}


def main() -> None:
    (SHARE / "ready.json").write_text(json.dumps({"uptime": uptime()}))
    while True:
        reqs = sorted(SHARE.glob("req-*.json"), key=lambda p: int(p.stem.split("-")[1]))
        if not reqs:
            time.sleep(0.05)
            continue
        for path in reqs:
            n = path.stem.split("-")[1]
            try:
                req = json.loads(path.read_text())
            except (OSError, ValueError):
                continue  # not completely written yet (the host renames, but be safe)
            path.unlink()
            if req.get("op") == "quit":
                for name in list(procs):
                    handle({"op": "stop", "name": name, "timeout": 5})
                tmp = SHARE / f".resp-{n}.tmp"  # like every answer: complete when it appears
                tmp.write_text("{}")
                tmp.rename(SHARE / f"resp-{n}.json")
                return
            try:
                resp = handle(req)
            except Exception as exc:  # noqa: BLE001 - report it to the host, keep serving
                resp = {"error": f"{type(exc).__name__}: {exc}"}
            tmp = SHARE / f".resp-{n}.tmp"
            tmp.write_text(json.dumps(resp))
            tmp.rename(SHARE / f"resp-{n}.json")


if __name__ == "__main__":
    main()
