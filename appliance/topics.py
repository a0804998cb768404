"""MQTT topic names, in one place: the suffixes under the prefix (default
`officeguard/<facility.id>`). The outbox writers (findings, exports, attestation notices) and the
publisher (agent/mqtt.py) both use these; docs/mqtt.md lists them (a test compares)."""

from __future__ import annotations

STATUS = "status"
ALERTS = "alerts/{severity}"
ALERT_LATEST = "alerts/latest"
DIGEST = "digest"
LEVEL = "level"
HEALTH = "health"
MEASURE = "measures/{measure}"
CATEGORY = "categories/{category}"
TEST = "alerts/test"
EXPORTS = "exports"
NOTICE_EXPIRY = "notices/expiry"
TOPICS = (STATUS, ALERTS, ALERT_LATEST, DIGEST, LEVEL, HEALTH, MEASURE, CATEGORY, TEST, EXPORTS,
          NOTICE_EXPIRY)


def alerts(severity: str) -> str:
    """The topic of an alert of this severity."""
    return ALERTS.format(severity=severity)
