"""`officeguard status`: what the appliance knows about itself, read from the store."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from appliance.config import Config
from appliance.findings import SEVERITIES
from appliance.store import StoreError, open_readonly
from appliance.store import findings as findings_q


class StatusError(Exception):
    pass


def status_summary(config: Config, db_path: str | None = None) -> dict[str, Any]:
    path = db_path or str(config.db_path)
    try:
        conn = open_readonly(path)
    except StoreError as exc:
        raise StatusError(str(exc)) from exc
    try:
        agent_raw = conn.execute("SELECT value FROM meta WHERE key = 'agent'").fetchone()
        counts = {
            "stations": conn.execute("SELECT COUNT(*) FROM stations").fetchone()[0],
            "events": conn.execute("SELECT COUNT(*) FROM events").fetchone()[0],
            "findings": conn.execute("SELECT COUNT(*) FROM findings").fetchone()[0],
            "outbox_unsent": findings_q.unsent_count(conn),
        }
        open_by_sev = {s: 0 for s in SEVERITIES}
        for sev, n in conn.execute(
            "SELECT severity, COUNT(*) FROM findings "
            "WHERE status IN ('open','reopened','acknowledged') GROUP BY severity"
        ):
            open_by_sev[sev] = n
        migrations = [r[0] for r in conn.execute("SELECT name FROM _migrations ORDER BY name")]
    except sqlite3.Error as exc:
        raise StatusError(f"{path}: {exc}") from exc
    finally:
        conn.close()
    return {
        "facility": {"id": config.facility.id, "name": config.facility.name},
        "database": path,
        "schema": migrations,
        "agent": json.loads(agent_raw[0]) if agent_raw else None,
        "counts": counts,
        "open_findings": open_by_sev,
    }
