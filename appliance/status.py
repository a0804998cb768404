"""`officeguard status`: what the appliance knows about itself, read from the store."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from appliance.config import Config
from appliance.domain import ACTIVE, SEVERITIES
from appliance.store import StoreError, meta, observations, open_readonly
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
        agent_raw = meta.get(conn, meta.AGENT)
        counts = {
            **observations.counts(conn),
            "findings": findings_q.total(conn),
            "outbox_unsent": findings_q.unsent_count(conn),
        }
        open_by_sev: dict[str, int] = {s.value: 0 for s in SEVERITIES}
        open_by_sev.update(findings_q.active_by_severity(conn, ACTIVE))
        migrations = meta.migrations(conn)
    except sqlite3.Error as exc:
        raise StatusError(f"{path}: {exc}") from exc
    finally:
        conn.close()
    return {
        "facility": {"id": config.facility.id, "name": config.facility.name},
        "database": path,
        "schema": migrations,
        "agent": json.loads(agent_raw) if agent_raw is not None else None,
        "counts": counts,
        "open_findings": open_by_sev,
    }
