"""Retention: raw observations expire by age and by the database's size; findings stay.

The agent prunes on its schedule (agent/runner.py) and an ingest leaves its hold
(agent/ingest.py); the rules and their SQL are the store's (appliance/store/retention.py).
These names are kept for the agent's callers.
"""

from __future__ import annotations

from appliance.store.retention import (
    HOLDS_KEY,
    add_hold,
    holds,
    prune,
    prune_to_size,
    used_bytes,
)

__all__ = ["HOLDS_KEY", "add_hold", "holds", "prune", "prune_to_size", "used_bytes"]
