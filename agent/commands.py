"""The agent's side of the dashboard's requests: the dashboard asks, the agent acts.

The web process only writes a row in the `commands` table (appliance/store/commands.py). The
agent calls `Drainer.drain_once()` about once a second: it claims each pending command and runs
it here, with the agent's own capabilities, network and configuration, then records the outcome
(`finish`) for the dashboard to show. Commands that take a while (a probe cycle, a test alert
waiting for the broker's acknowledgement, an export) run on their own thread, so the capture
loop never waits for them; the store allows one open command of a kind, so they never pile up.

  probe_now     the agent's probe Scheduler runs a cycle now (`run_now`: waits for a scheduled
                cycle in flight; one cycle at a time, whoever asked)
  test_alert    agent.mqtt.send_test_alert with the agent's broker settings
  survey_start  agent.survey.start (the capture loop picks the survey up within a second)
  survey_stop   agent.survey.stop (every running survey)
  run_export    appliance.export.run_export, as the monthly export runs it, holding the same
                lock: never two exports at once, whoever asked (the PDF is drawn in a child
                process by export.py, so its memory never stays in the agent)
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from appliance.config import Config
from appliance.store import Store, StoreError
from appliance.store import commands as cmds
from appliance.store.commands import Command, CommandKind

log = logging.getLogger("officeguard.commands")


class Prober(Protocol):
    def run_now(self, requested_by: str = ...) -> dict[str, Any]: ...


Outcome = tuple[bool, dict[str, Any]]


class Drainer:
    """Claims and runs the dashboard's commands; `drain_once` is the agent's periodic job."""

    def __init__(self, config: Config, store: Store,
                 prober: Callable[[], Prober | None] = lambda: None,
                 config_path: str | None = None,
                 export_lock: threading.Lock | None = None) -> None:
        self.config = config
        self.export_lock = export_lock or threading.Lock()  # shared with the monthly export
        self.store = store
        self.prober = prober  # the agent's current Scheduler (None: no probe scope)
        self.config_path = config_path
        self.threads: dict[int, threading.Thread] = {}
        self._started = False

    def start(self) -> int:
        """At agent start: commands a stopped agent left running have failed."""
        self._started = True
        n: int = self.store.write(lambda c: cmds.abandon_running(c, time.time()))
        if n:
            log.warning("%d command(s) from the dashboard were running when the agent last "
                        "stopped: recorded as failed", n)
        return n

    def drain_once(self) -> list[int]:
        """Claim every pending command and start it; returns the ids started."""
        if not self._started:
            self.start()
        self.threads = {i: t for i, t in self.threads.items() if t.is_alive()}
        started = []
        while True:
            try:
                cmd = self.store.write(lambda c: cmds.claim_next(c, time.time()))
            except StoreError as exc:
                log.error("cannot read the dashboard's commands: %s", exc)
                break
            if cmd is None:
                break
            log.info("command %d from %s: %s %s", cmd.id, cmd.requested_by, cmd.kind.value,
                     json.dumps(cmd.args, ensure_ascii=False))
            if cmd.kind in (CommandKind.SURVEY_START, CommandKind.SURVEY_STOP):
                self._run(cmd)  # one row each: quick
            else:
                t = threading.Thread(target=self._run, args=(cmd,), daemon=True,
                                     name=f"command-{cmd.kind.value}")
                self.threads[cmd.id] = t
                t.start()
            started.append(cmd.id)
        return started

    def wait(self, timeout: float) -> None:
        """Give the commands in flight up to TIMEOUT seconds (at agent stop)."""
        deadline = time.monotonic() + timeout
        for t in list(self.threads.values()):
            t.join(max(0.0, deadline - time.monotonic()))

    def _run(self, cmd: Command) -> None:
        handler = {CommandKind.PROBE_NOW: self._probe_now,
                   CommandKind.TEST_ALERT: self._test_alert,
                   CommandKind.SURVEY_START: self._survey_start,
                   CommandKind.SURVEY_STOP: self._survey_stop,
                   CommandKind.RUN_EXPORT: self._export}[cmd.kind]
        try:
            ok, outcome = handler(cmd)
        except Exception as exc:  # recorded for the dashboard, never lost in a log only
            log.exception("command %d (%s) failed", cmd.id, cmd.kind.value)
            ok, outcome = False, {"error": f"{type(exc).__name__}: {exc}"}
        log.log(logging.INFO if ok else logging.ERROR, "command %d (%s) %s: %s", cmd.id,
                cmd.kind.value, "done" if ok else "failed", json.dumps(outcome, default=str,
                                                                         ensure_ascii=False))
        try:
            self.store.write(lambda c: cmds.finish(c, cmd.id, ok, outcome, time.time()))
        except StoreError as exc:
            log.error("the outcome of command %d was not recorded: %s", cmd.id, exc)

    # -- the commands ------------------------------------------------------------------------
    def _probe_now(self, cmd: Command) -> Outcome:
        prober = self.prober()
        if prober is None:
            return False, {"error": "the probe scope is empty: nothing may be probed"}
        doc = prober.run_now(f"dashboard: {cmd.requested_by}")
        return not doc.get("error"), doc

    def _test_alert(self, cmd: Command) -> Outcome:
        from agent.mqtt import MqttError, send_test_alert

        try:
            res = send_test_alert(self.config, self.store, cmd.requested_by)
        except MqttError as exc:
            return False, {"error": str(exc)}
        return bool(res.get("delivered_at")), res

    def _survey_start(self, cmd: Command) -> Outcome:
        from agent import survey

        label = str(cmd.args.get("label") or "").strip()
        if not label:
            return False, {"error": "a survey needs a label"}
        location = "inside" if cmd.args.get("location") == "inside" else "outside"
        seconds = float(cmd.args.get("seconds") or 0) or None
        sid = self.store.write(lambda c: survey.start(
            c, label, self.config.wifi.leakage_threshold_dbm, location, seconds))
        return True, {"survey_id": sid, "label": label, "location": location,
                      "seconds": seconds}

    def _survey_stop(self, cmd: Command) -> Outcome:
        from agent import survey

        n = self.store.write(lambda c: survey.stop(c, None))
        return True, {"stopped": n}

    def _export(self, cmd: Command) -> Outcome:
        from appliance import export as ex

        try:
            period = ex.parse_period(str(cmd.args.get("period") or "") or None, None, None)
            with self.export_lock:  # a monthly export in flight finishes first
                done = ex.run_export(self.store, self.config, period, pdf_in_child=True)
        except (ex.ExportError, StoreError, OSError) as exc:
            return False, {"error": str(exc)}
        return True, {"folder": str(done.folder), "period": period.label,
                      "manifest_sha256": done.digest}
