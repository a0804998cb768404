"""What the benchmarks share: run the real command as a child and read its own peak memory."""

from __future__ import annotations

import os
import subprocess
import time


def run_child(cmd: list[str]) -> tuple[float, float]:
    """Wall time and the child's own peak RSS in MB (wait4 gives that child's rusage; its
    children's too). Generate inputs in another child first: a child's peak includes what it
    shared with its parent before exec."""
    wall, rss, _cpu = run_child_usage(cmd)
    return wall, rss


def run_child_usage(cmd: list[str], env: dict[str, str] | None = None
                    ) -> tuple[float, float, float]:
    """Like run_child, plus the child's own CPU time (user + system, seconds)."""
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    _pid, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode:
        raise SystemExit(f"{cmd[0]} failed with exit code {p.returncode}")
    return time.perf_counter() - t0, ru.ru_maxrss / 1024, ru.ru_utime + ru.ru_stime


def installed_env(cache: str) -> dict[str, str]:
    """The environment for running `officeguard` as the appliance does: its modules
    byte-compiled (pip compiles them when it installs the package), even where the shell sets
    PYTHONDONTWRITEBYTECODE; the bytecode goes to CACHE, not into the source tree. Run the
    command once before timing it."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = cache
    return env
