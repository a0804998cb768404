"""Linux capabilities as capabilities: the agent ships as an unprivileged user holding
CAP_NET_RAW and CAP_NET_ADMIN, so "may I send ARP?" is a question about the effective set,
never about the user id. The parser is pure; `effective()` reads /proc/self/status.
"""

from __future__ import annotations

import enum
from pathlib import Path


class Cap(enum.IntEnum):
    NET_ADMIN = 12
    NET_RAW = 13

    @property
    def label(self) -> str:
        return f"CAP_{self.name}"


class MissingCapability(PermissionError):
    """The packet needs a capability this process does not hold; nothing was sent."""

    def __init__(self, cap: Cap, what: str, detail: str = "") -> None:
        self.cap = cap
        self.reason = (f"{what} needs {cap.label}, which this process does not hold"
                       + (f" ({detail})" if detail else "")
                       + "; the agent's unit grants it (AmbientCapabilities)")
        super().__init__(self.reason)


def parse_cap_eff(status: str) -> int | None:
    """The CapEff mask of a /proc/<pid>/status text, None when absent or malformed."""
    for line in status.splitlines():
        key, _, value = line.partition(":")
        if key == "CapEff":
            try:
                return int(value.strip(), 16)
            except ValueError:
                return None
    return None


def effective(status_file: Path = Path("/proc/self/status")) -> frozenset[Cap]:
    """The capabilities of interest in this process's effective set (empty when unreadable:
    then each packet is tried and its refusal explained)."""
    try:
        mask = parse_cap_eff(status_file.read_text(encoding="ascii", errors="replace"))
    except OSError:
        mask = None
    if mask is None:
        return frozenset()
    return frozenset(c for c in Cap if mask >> int(c) & 1)
