"""Times are stored as UTC epoch seconds (REAL) and shown as ISO 8601 with an explicit offset."""

from __future__ import annotations

import time
from datetime import UTC, datetime


def now() -> float:
    return time.time()


INVALID = "invalid"


def iso(ts: float | None) -> str | None:
    """ISO 8601 in UTC; a stored value no calendar can show (a row written by an older version
    from a damaged capture) is "invalid", never an exception that breaks a page or an export."""
    if ts is None:
        return None
    try:
        return datetime.fromtimestamp(float(ts), tz=UTC).isoformat(timespec="microseconds")
    except (OverflowError, OSError, ValueError, TypeError):
        return INVALID


def day(ts: float) -> str:
    """The local calendar day of `ts` (YYYY-MM-DD), or "invalid"."""
    try:
        return datetime.fromtimestamp(float(ts)).date().isoformat()
    except (OverflowError, OSError, ValueError, TypeError):
        return INVALID
