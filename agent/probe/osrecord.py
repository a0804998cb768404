"""Store what a probe cycle learned about operating systems (table device_os, #18).
Runs inside `record.record_cycle`'s transaction on the store's writer thread."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from appliance.store import probes


def record_os(conn: sqlite3.Connection, doc: dict[str, Any]) -> None:
    now = doc["finished_at"]
    for h in doc["hosts"]:
        os_ = h.get("os")
        rental = h.get("rental") or {}
        if not os_ and not rental:
            continue
        sup = h.get("os_support") or {}
        os_ = os_ or {}
        probes.upsert_os(
            conn, h["ip"], h.get("mac", ""), rental.get("label", ""), os_.get("family", ""),
            os_.get("name", ""), os_.get("version", ""), os_.get("source", ""),
            sup.get("eol", ""), sup.get("status", "unknown"), sup.get("catalog_as_of", ""),
            json.dumps({"os": os_, "support": sup, "smb": h.get("smb"), "rdp": h.get("rdp")},
                       ensure_ascii=False, default=str), now)
