"""The dashboard's side of the agent's work: a button writes a request into the `commands` table
(appliance/store/commands.py), audited in the same transaction, and the pages show the state
and outcome of the latest request of each kind. The web process itself probes nothing, sends
nothing to the broker and starts no process: the agent drains the table (agent/commands.py)."""

from __future__ import annotations

import json
import sqlite3
import time
from typing import Any

from appliance.store import Store
from appliance.store import commands as cmds
from appliance.store.commands import CommandKind
from web import security as sec

AUDIT = {CommandKind.PROBE_NOW: "probe run", CommandKind.TEST_ALERT: "alert test",
         CommandKind.SURVEY_START: "survey start", CommandKind.SURVEY_STOP: "survey stop",
         CommandKind.RUN_EXPORT: "export run"}
# the words a page shows (msgids of the gettext catalogs, English: the page translates them)
STATES = {"pending": "Waiting for the agent", "running": "The agent is running it",
          "done": "Done", "failed": "Failed"}
KINDS = {"probe_now": "Probe now", "test_alert": "Test alert",
         "survey_start": "Survey start", "survey_stop": "Survey stop",
         "run_export": "Export now"}
# what a page shows of an outcome, in this order
SHOWN = {"hosts": "Hosts", "findings": "Findings", "duration_s": "Duration (s)",
         "waited_s": "Waited for the cycle in flight (s)", "broker": "Broker",
         "delivered_at": "Delivered", "survey_id": "Survey", "label": "Label",
         "stopped": "Surveys stopped", "period": "Period", "folder": "Folder",
         "error": "Error"}


def ask(store: Store, kind: CommandKind, args: dict[str, Any], by: str) -> tuple[int, bool]:
    """Queue KIND for the agent (unless one is already open) and audit it; (id, newly queued)."""
    def do(c: sqlite3.Connection) -> tuple[int, bool]:
        cid, new = cmds.request(c, kind, args, by, time.time())
        sec.audit(c, by, AUDIT[kind], json.dumps({"command": cid, "queued": new, **args},
                                                 ensure_ascii=False, sort_keys=True))
        return cid, new

    res: tuple[int, bool] = store.write(do)
    return res


def latest(c: sqlite3.Connection, *kinds: CommandKind) -> dict[str, Any] | None:
    """The most recent request among KINDS, as a template shows it."""
    found = [x for k in kinds for x in cmds.recent(c, 1, k)]
    if not found:
        return None
    cmd = max(found, key=lambda x: x.id)
    return {"id": cmd.id, "kind": cmd.kind.value, "state": cmd.state.value,
            "kind_label": KINDS[cmd.kind.value], "state_label": STATES[cmd.state.value],
            "open": cmd.state in (cmds.CommandState.PENDING, cmds.CommandState.RUNNING),
            "requested_by": cmd.requested_by, "requested_at": cmd.requested_at,
            "started_at": cmd.started_at, "finished_at": cmd.finished_at,
            "outcome": [(k, label, cmd.outcome[k]) for k, label in SHOWN.items()
                        if cmd.outcome.get(k) not in (None, "")]}
