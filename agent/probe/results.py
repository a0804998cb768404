"""Typed records of a probe cycle's results. Pure.

The cycle document (`--json`, `probe_runs.checks`) keeps its shape: each record's `as_dict()`
is exactly the dictionary that is stored and printed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Discovered:
    """A host that answered discovery: its MAC (ARP, or the LAN sensor's) and how it was found
    ("arp", "icmp", "tcp/80", ...)."""

    mac: str
    how: str


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One check's outcome: `result` is pass | fail | warn | unknown; `coverage` names what the
    check is about and `examined` what it actually looked at (nothing examined passes nothing
    in the compliance evaluation)."""

    check: str
    measure: str
    result: str
    subject: str
    evidence: dict[str, Any]
    coverage: str = ""
    examined: tuple[str, ...] = field(default_factory=tuple)

    def as_dict(self) -> dict[str, Any]:
        rec: dict[str, Any] = {"check": self.check, "measure": self.measure,
                               "result": self.result, "subject": self.subject,
                               "evidence": self.evidence}
        if self.coverage:
            rec["coverage"] = self.coverage
            rec["examined"] = list(self.examined)[:100]
        return rec
