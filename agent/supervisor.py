"""The agent's supervisor: registered periodic jobs, each run on its own interval.

The capture loop calls `Supervisor.tick()` between batches of frames; every job that is due
runs there, in the order it was registered. A job that raises is logged, counted and remembered
(`status()`), and the other jobs run as usual: one broken job never stops the agent.

Registering a job is one line; the interval comes from the typed config (`[agent]` table):

    supervisor.add(Job("commands", config.agent.commands_every_s, lambda: drain_once(...)))

A job must be quick (it runs on the capture thread); a slow one starts a thread and returns
(see the export job in agent/runner.py).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from appliance.timeutil import iso

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Job:
    """NAME runs RUN every EVERY_S seconds (monotonic); the first run comes FIRST_AFTER_S
    seconds after the supervisor starts (0: at the first tick)."""

    name: str
    every_s: float
    run: Callable[[], None]
    first_after_s: float = 0.0


@dataclass(slots=True)
class JobState:
    job: Job
    due: float  # monotonic time of the next run
    runs: int = 0
    errors: int = 0
    failing: bool = False  # the last run raised
    last_run_at: float | None = None  # wall clock
    last_ok_at: float | None = None
    last_error: str | None = None
    last_error_at: float | None = None
    last_duration_s: float = 0.0

    def to_json(self) -> dict[str, Any]:
        def when(t: float | None) -> str | None:
            return iso(t) if t is not None else None

        return {"every_s": self.job.every_s, "runs": self.runs, "errors": self.errors,
                "ok": not self.failing, "last_run_at": when(self.last_run_at),
                "last_ok_at": when(self.last_ok_at), "last_error": self.last_error,
                "last_error_at": when(self.last_error_at),
                "last_duration_ms": round(self.last_duration_s * 1000, 1)}


@dataclass
class Supervisor:
    monotonic: Callable[[], float] = time.monotonic
    wall: Callable[[], float] = time.time
    _jobs: dict[str, JobState] = field(default_factory=dict)
    _next_due: float = float("inf")  # the earliest due time: most ticks stop at one compare

    def add(self, job: Job) -> Job:
        """Register JOB; a name is registered once."""
        if job.name in self._jobs:
            raise ValueError(f"job {job.name!r} is already registered")
        if not job.every_s > 0:
            raise ValueError(f"job {job.name!r}: every_s must be > 0, not {job.every_s!r}")
        st = self._jobs[job.name] = JobState(job, self.monotonic() + job.first_after_s)
        self._next_due = min(self._next_due, st.due)
        return job

    def remove(self, name: str) -> None:
        self._jobs.pop(name, None)
        self._next_due = min((st.due for st in self._jobs.values()), default=float("inf"))

    @property
    def names(self) -> list[str]:
        return list(self._jobs)

    def soon(self, name: str) -> None:
        """Run NAME at the next tick (e.g. the heartbeat after the settings changed)."""
        st = self._jobs.get(name)
        if st is not None:
            st.due = self.monotonic()
            self._next_due = min(self._next_due, st.due)

    def tick(self, only: Callable[[Job], bool] | None = None) -> None:
        """Run every due job (those ONLY accepts, when given), in registration order."""
        now = self.monotonic()
        if now < self._next_due:
            return
        for st in list(self._jobs.values()):
            if now < st.due or (only is not None and not only(st.job)):
                continue
            st.due = now + st.job.every_s
            self._run(st)
        self._next_due = min((st.due for st in self._jobs.values()), default=float("inf"))

    def run_now(self, name: str) -> None:
        """Run NAME at once, whether due or not (its next run is rescheduled from now)."""
        st = self._jobs[name]
        st.due = self.monotonic() + st.job.every_s
        self._run(st)
        self._next_due = min((s.due for s in self._jobs.values()), default=float("inf"))

    def _run(self, st: JobState) -> None:
        st.last_run_at = self.wall()
        t0 = time.perf_counter()
        try:
            st.job.run()
        except Exception as exc:  # noqa: BLE001 - one failing job must not stop the others
            st.errors += 1
            st.last_error = f"{type(exc).__name__}: {exc}"
            st.last_error_at = st.last_run_at
            if not st.failing:  # the traceback once per streak of failures, then one line
                log.error("job %s failed: %s", st.job.name, st.last_error, exc_info=exc)
            else:
                log.error("job %s failed again (%d failures): %s", st.job.name, st.errors,
                          st.last_error)
            st.failing = True
        else:
            if st.failing:
                log.info("job %s works again", st.job.name)
            st.failing = False
            st.last_ok_at = st.last_run_at
        finally:
            st.runs += 1
            st.last_duration_s = time.perf_counter() - t0

    def status(self) -> dict[str, dict[str, Any]]:
        """Each job's interval, runs, errors, last run, last success and last error."""
        return {name: st.to_json() for name, st in self._jobs.items()}
