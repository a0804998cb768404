"""The domain's words, defined once: finding severity and status, compliance check states, the
ports a scan looks at by default.

They are `StrEnum`s: each member is its own string ("high" == Severity.HIGH), so what the store,
the JSON documents and MQTT carry is unchanged, and code that compares with strings keeps
working, while new code gets a type that mypy checks.
"""

from __future__ import annotations

from enum import StrEnum


class Severity(StrEnum):
    """How bad a finding is, least to most severe (the order is the ranking)."""

    INFO = "info"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return SEVERITY_RANK[self]


SEVERITIES: tuple[Severity, ...] = tuple(Severity)  # least severe first
SEVERITIES_WORST_FIRST: tuple[Severity, ...] = SEVERITIES[::-1]  # as pages list them
SEVERITY_RANK: dict[str, int] = {s.value: i for i, s in enumerate(SEVERITIES)}
# a query parameter that is one severity or empty (all)
SEVERITY_PATTERN = "^(|" + "|".join(SEVERITIES) + ")$"


class FindingStatus(StrEnum):
    """A finding's lifecycle: open → acknowledged → resolved, reopened when it comes back."""

    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"
    REOPENED = "reopened"


STATUSES: tuple[FindingStatus, ...] = tuple(FindingStatus)
# the statuses of a finding that still needs someone's attention
ACTIVE: tuple[FindingStatus, ...] = (
    FindingStatus.OPEN, FindingStatus.ACKNOWLEDGED, FindingStatus.REOPENED)


class CheckState(StrEnum):
    """The state of one compliance check (and, the worst of them, of a measure)."""

    PASS = "pass"  # noqa: S105 - a check state, not a password
    WARN = "warn"
    FAIL = "fail"
    UNKNOWN = "unknown"  # nothing was examined: never a pass
    EXPIRED = "expired"
    EVIDENCE_INVALID = "evidence_invalid"
    NOT_APPLICABLE = "not_applicable"


# TCP ports a probe scan looks at unless probe.ports says otherwise
DEFAULT_PORTS: tuple[int, ...] = (
    21, 22, 23, 25, 53, 80, 139, 443, 445, 515, 554, 631, 1883, 1900, 3389, 5000, 5357, 7547,
    8000, 8080, 8443, 8554, 9100, 49152)
