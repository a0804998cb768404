"""MQTT alerts for staff phones: the outbox drained with QoS 1, nothing lost.

The outbox rows are written in the same transaction as the finding change (appliance.findings).
The publisher reads them in id order, publishes with QoS 1 and marks a row sent only when the
broker acknowledges it (PUBACK). A broker outage or a restart therefore delays alerts and, at
worst, repeats one (every alert carries `alert_id` so a subscriber can drop the duplicate);
it never loses one. Topics are documented in docs/mqtt.md (a test compares them with TOPICS).
"""

from __future__ import annotations

import contextlib
import json
import logging
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from appliance import topics
from appliance.config import Config
from appliance.display import deep_safe
from appliance.i18n import both
from appliance.store import Store, StoreError
from appliance.store import findings as outbox

log = logging.getLogger(__name__)

# Topic suffixes under the prefix (default officeguard/<facility.id>): named once, in
# appliance/topics.py, which the outbox writers use too; docs/mqtt.md lists them.
T_STATUS = topics.STATUS
T_ALERTS = topics.ALERTS
T_ALERT_LATEST = topics.ALERT_LATEST
T_DIGEST = topics.DIGEST
T_LEVEL = topics.LEVEL
T_HEALTH = topics.HEALTH
T_MEASURE = topics.MEASURE
T_CATEGORY = topics.CATEGORY
T_TEST = topics.TEST
T_EXPORTS = topics.EXPORTS
T_NOTICE_EXPIRY = topics.NOTICE_EXPIRY
TOPICS = topics.TOPICS

WINDOW = 64  # QoS 1 messages in flight at once
STATE_EVERY_S = 30.0


class MqttError(Exception):
    pass


def client_for(config: Config, will: bool = True, suffix: str = "") -> mqtt.Client:
    """A configured paho client (not yet connected): TLS, credentials, last will."""
    c = config.mqtt
    proto = mqtt.MQTTv5 if c.protocol == "5" else mqtt.MQTTv311
    client_id = (c.client_id or f"officeguard-{config.facility.id}") + suffix
    kw: dict[str, Any] = {"client_id": client_id, "protocol": proto}
    if proto == mqtt.MQTTv311:
        kw["clean_session"] = True
    client = mqtt.Client(CallbackAPIVersion.VERSION2, **kw)
    if c.tls or c.ca_file or c.certfile:
        try:
            client.tls_set(ca_certs=c.ca_file or None, certfile=c.certfile or None,
                           keyfile=c.keyfile or None, cert_reqs=ssl.CERT_REQUIRED,
                           tls_version=ssl.PROTOCOL_TLS_CLIENT)
        except (OSError, ssl.SSLError) as exc:
            raise MqttError(f"mqtt TLS files: {exc}") from exc
    if c.username:
        client.username_pw_set(c.username, config.mqtt_password())
    if will:
        client.will_set(f"{config.topic_prefix}/{T_STATUS}", "offline", qos=1, retain=True)
    client.reconnect_delay_set(1, 15)
    client.max_inflight_messages_set(WINDOW)
    return client


@dataclass
class Router:
    """Noise control, pure: which outbox rows go out now and which wait for the digest."""

    per_rule_per_hour: int
    global_per_hour: int
    quiet_hours: str = ""
    sent: deque[tuple[float, str]] = field(default_factory=deque)

    def in_quiet_hours(self, now: float) -> bool:
        if not self.quiet_hours:
            return False
        start, end = self.quiet_hours.split("-")
        t = datetime.fromtimestamp(now).strftime("%H:%M")
        return (start <= t < end) if start <= end else (t >= start or t < end)

    def route(self, payload: dict[str, Any], now: float) -> str:
        """'alert' (publish now), 'digest' (next digest) or 'later' (after quiet hours)."""
        sev = payload.get("severity", "info")
        if payload.get("change") in ("test", "export", "expiring"):
            return "alert"
        if sev == "info":
            return "digest"
        if sev == "low" and self.in_quiet_hours(now):
            return "later"
        while self.sent and now - self.sent[0][0] > 3600:
            self.sent.popleft()
        rule = str(payload.get("rule", ""))
        if (self.global_per_hour and len(self.sent) >= self.global_per_hour) or (
                self.per_rule_per_hour
                and sum(1 for _t, r in self.sent if r == rule) >= self.per_rule_per_hour):
            return "digest"
        self.sent.append((now, rule))
        return "alert"


class Publisher:
    def __init__(self, config: Config, store: Store,
                 state: Callable[[], dict[str, Any]] | None = None) -> None:
        self.config = config
        self.store = store
        self.prefix = config.topic_prefix
        self.state = state  # returns {"level": ..., "measures": ..., "health": ...}
        self.router = Router(config.mqtt.rate_per_rule_per_hour,
                             config.mqtt.rate_global_per_hour, config.mqtt.quiet_hours)
        self.client = client_for(config)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_publish = self._on_publish
        self.stop = threading.Event()
        self.connected = threading.Event()
        self._lock = threading.Lock()
        self._inflight: dict[int, int | None] = {}  # mid -> outbox id (None: not an outbox row)
        self._acked: list[int] = []
        self._cursor = 0
        self._retained: dict[str, str] = {}
        self._last_state = 0.0
        self._last_digest_day = ""
        self._thread: threading.Thread | None = None
        self.published = 0
        self.last_error: str | None = None

    # -- paho callbacks (its network thread) -------------------------------------------------
    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
        if rc.is_failure:
            self.last_error = f"broker refused the connection: {rc}"
            log.error("MQTT: %s", self.last_error)
            return
        log.info("MQTT connected to %s:%d", self.config.mqtt.host, self.config.mqtt.port)
        with self._lock:
            # paho re-sends, in order and first, every message not acknowledged before the
            # connection dropped; the cursor stays, so nothing overtakes them. (After a
            # restart the cursor starts at 0 and every unsent row goes out again.)
            self._retained.clear()
        self.last_error = None
        client.publish(f"{self.prefix}/{T_STATUS}", "online", qos=1, retain=True)
        if self.config.mqtt.discovery:
            for topic, payload in discovery_configs(self.config):
                client.publish(topic, json.dumps(payload, ensure_ascii=False), qos=1, retain=True)
        self.connected.set()

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
        self.connected.clear()
        if not self.stop.is_set():
            log.warning("MQTT disconnected (%s); alerts wait in the outbox", rc)

    def _on_publish(self, _c: mqtt.Client, _u: Any, mid: int, _rc: Any, _p: Any) -> None:
        with self._lock:
            oid = self._inflight.pop(mid, None)
            if oid is not None:
                self._acked.append(oid)

    # -- the drain loop (our thread) ---------------------------------------------------------
    def start(self) -> None:
        c = self.config.mqtt
        self.client.connect_async(c.host, c.port, keepalive=c.keepalive_s)
        self.client.loop_start()
        self._thread = threading.Thread(target=self._run, name="mqtt-outbox", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self.connected.is_set():
            info = self.client.publish(f"{self.prefix}/{T_STATUS}", "offline", qos=1,
                                       retain=True)
            with contextlib.suppress(RuntimeError, ValueError):
                info.wait_for_publish(3)
        self._commit_acks()
        self.client.disconnect()
        self.client.loop_stop()

    def _run(self) -> None:
        while not self.stop.is_set():
            busy = False
            try:
                if self.connected.is_set():
                    busy = self._drain()
                    self._maybe_digest(time.time())
                    self._maybe_state(time.time())
                self._commit_acks()
            except StoreError as exc:
                log.error("MQTT outbox: %s", exc)
            except Exception:  # never let a bug stop alerts for good
                log.exception("MQTT publisher loop failed; retrying")
            self.stop.wait(0.002 if busy else 0.05)

    def _drain(self) -> bool:
        """Publish what fits in the window; True when there was work (so loop again soon)."""
        with self._lock:
            room = WINDOW - len(self._inflight)
            cursor = self._cursor
        if room <= 0:
            return True
        rows = self.store.read_with(lambda c: outbox.to_publish(c, cursor, room))
        now = time.time()
        digest: list[int] = []
        for r in rows:
            payload = json.loads(r["payload"])
            route = r["route"] if r["route"] == "alert" else self.router.route(payload, now)
            if route == "later":
                self._cursor = r["id"]  # skipped for now; picked up again after quiet hours
                continue
            if route == "digest":
                digest.append(r["id"])
                self._cursor = r["id"]
                continue
            if self.config.mqtt.dashboard_url:
                payload["dashboard_url"] = self.config.mqtt.dashboard_url
                if payload.get("finding_id"):  # the finding's own page on the dashboard
                    payload["finding_url"] = (self.config.mqtt.dashboard_url.rstrip("/")
                                              + f"/findings/{int(payload['finding_id'])}")
            # names from the air (SSIDs) reach phones and home-automation screens: bidi and
            # control characters are shown as markers there too
            payload = deep_safe(payload)
            body = json.dumps(payload, ensure_ascii=False)
            info = self.client.publish(f"{self.prefix}/{r['topic']}", body, qos=1)
            if info.rc != mqtt.MQTT_ERR_SUCCESS:
                break  # not connected any more: the row stays unsent
            with self._lock:
                self._inflight[info.mid] = r["id"]
                self._cursor = r["id"]
            if self.config.mqtt.discovery:
                ev = {**payload, "event_type": payload.get("change", "new")}
                self.client.publish(f"{self.prefix}/{T_ALERT_LATEST}",
                                    json.dumps(ev, ensure_ascii=False), qos=1)
            self.published += 1
        if digest:
            self.store.write(lambda c: outbox.route_to_digest(c, digest))
        if self.router.quiet_hours and not self.router.in_quiet_hours(now):
            upto = self._cursor
            later = self.store.read_with(lambda c: outbox.first_unrouted_upto(c, upto))
            if later is not None:
                with self._lock:
                    self._cursor = min(self._cursor, later - 1)
        return bool(rows)

    def _commit_acks(self) -> None:
        with self._lock:
            acked, self._acked = self._acked, []
        if not acked:
            return
        now = time.time()
        try:
            self.store.write(lambda c: outbox.mark_sent(c, acked, now))
        except StoreError:
            with self._lock:
                self._acked[:0] = acked  # try again; a duplicate is better than a loss
            raise

    def _maybe_digest(self, now: float, force: bool = False) -> None:
        day = datetime.fromtimestamp(now).strftime("%Y-%m-%d")
        due = datetime.fromtimestamp(now).strftime("%H:%M") >= self.config.mqtt.digest_time
        if not force and (not due or day == self._last_digest_day):
            return
        rows = self.store.read_with(outbox.digest_items)
        self._last_digest_day = day
        if not rows:
            return
        items = [json.loads(r["payload"]) for r in rows]
        body = {"time": datetime.fromtimestamp(now).astimezone().isoformat(),
                "count": len(items),
                **dict(zip(("message_ja", "message_en"), both(
                    "OfficeGuard daily digest: {n} notices", n=len(items)), strict=True)),
                "items": [{k: i.get(k) for k in ("alert_id", "time", "severity", "measure",
                                                  "title_ja", "title_en", "subject", "change")}
                          for i in items]}
        info = self.client.publish(f"{self.prefix}/{T_DIGEST}",
                                   json.dumps(deep_safe(body), ensure_ascii=False), qos=1)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            return
        ids = [r["id"] for r in rows]
        try:
            info.wait_for_publish(10)
        except (RuntimeError, ValueError):
            return
        if info.is_published():  # every item is marked when the one message is acknowledged
            self.store.write(lambda c: outbox.mark_sent(c, ids, now))

    def _maybe_state(self, now: float) -> None:
        if self.state is None or now - self._last_state < STATE_EVERY_S:
            return
        self._last_state = now
        for suffix, payload in retained_states(self.state()).items():
            if self._retained.get(suffix) == payload:
                continue
            info = self.client.publish(f"{self.prefix}/{suffix}", payload, qos=1, retain=True)
            if info.rc == mqtt.MQTT_ERR_SUCCESS:
                self._retained[suffix] = payload

    def backlog(self) -> int:
        return self.store.read_with(outbox.unsent_count)


def retained_states(state: dict[str, Any]) -> dict[str, str]:
    """Topic suffix → retained payload for the level, health, each measure and category."""
    out: dict[str, str] = {}
    doc = state.get("compliance")
    if doc:
        e = doc["estimate"]
        out[T_LEVEL] = json.dumps({
            "stars": e["stars"], "stars_optimistic": e["stars_optimistic"],
            "label_ja": e["label_ja"], "label_en": e["label_en"],
            "level": e.get("level", e["stars"]), "level_optimistic": e.get("level_optimistic"),
            "confidence": e["confidence"], "confidence_level": e.get("confidence_level"),
            "grades": {k: v for k, v in doc["grades"].items() if k != "optimistic"},
            "disclaimer_ja": e["disclaimer_ja"], "disclaimer_en": e["disclaimer_en"]},
            ensure_ascii=False)
        cats: dict[int, bool] = {}
        for m in doc["measures"]:
            out[T_MEASURE.format(measure=m["measure"])] = json.dumps(
                {"measure": m["measure"], "verdict": m["verdict"], "title_ja": m["title_ja"],
                 "title_en": m["title_en"]}, ensure_ascii=False)
            bad = m["verdict"] in ("fail", "expired", "evidence_invalid")
            cats[m["category"]] = cats.get(m["category"], False) or bad
        for c, bad in cats.items():
            out[T_CATEGORY.format(category=c)] = "ON" if bad else "OFF"
    if state.get("health") is not None:
        out[T_HEALTH] = json.dumps(state["health"], ensure_ascii=False, sort_keys=True)
    return out


def discovery_configs(config: Config) -> list[tuple[str, dict[str, Any]]]:
    """Home Assistant MQTT discovery: the level as a sensor, each category as a problem binary
    sensor, the latest alert as an event entity."""
    from appliance.guideline import catalog_for

    fid, p, dp = config.facility.id, config.topic_prefix, config.mqtt.discovery_prefix
    device = {"identifiers": [f"officeguard_{fid}"], "name": f"OfficeGuard {fid}",
              "manufacturer": "OfficeGuard", "model": "appliance"}
    avail = {"availability_topic": f"{p}/{T_STATUS}", "payload_available": "online",
             "payload_not_available": "offline"}
    out = [(f"{dp}/sensor/officeguard_{fid}/level/config", {
        "name": "Certification level (estimate)", "unique_id": f"officeguard_{fid}_level",
        "state_topic": f"{p}/{T_LEVEL}", "value_template": "{{ value_json.label_ja }}",
        "json_attributes_topic": f"{p}/{T_LEVEL}", "device": device, **avail})]
    for cat in catalog_for(config).categories:
        out.append((f"{dp}/binary_sensor/officeguard_{fid}/category_{cat.id}/config", {
            "name": f"{cat.id}. {cat.title_ja}", "unique_id": f"officeguard_{fid}_cat{cat.id}",
            "device_class": "problem", "state_topic": f"{p}/categories/{cat.id}",
            "payload_on": "ON", "payload_off": "OFF", "device": device, **avail}))
    out.append((f"{dp}/event/officeguard_{fid}/alert/config", {
        "name": "Alert", "unique_id": f"officeguard_{fid}_alert",
        "state_topic": f"{p}/{T_ALERT_LATEST}",
        "event_types": ["new", "escalated", "reopened", "resolved", "test"],
        "device": device, **avail}))
    return out


def send_test_alert(config: Config, store: Store, requested_by: str,
                    timeout: float = 15.0) -> dict[str, Any]:
    """Publish a test alert now and record whether the broker acknowledged it (1-③ evidence)."""
    import uuid

    from appliance.timeutil import iso

    if not config.mqtt.host:
        raise MqttError("mqtt.host is empty: configure the broker first")
    alert_id = str(uuid.uuid4())
    now = time.time()
    title_ja, title_en = both("Test alert")
    message_ja, message_en = both("OfficeGuard test alert: if you read this, alerts reach you.")
    payload = {"alert_id": alert_id, "change": "test", "time": iso(now), "severity": "info",
               "measure": "1-3", "title_ja": title_ja, "title_en": title_en,
               "message_ja": message_ja, "message_en": message_en,
               "subject": config.facility.name or config.facility.id,
               "requested_by": requested_by}
    broker = f"{config.mqtt.host}:{config.mqtt.port}"
    store.write(lambda c: outbox.add_alert_test(c, alert_id, now, requested_by, broker))
    client = client_for(config, will=False, suffix="-test")
    error = None
    delivered = None
    try:
        client.connect(config.mqtt.host, config.mqtt.port, keepalive=30)
        client.loop_start()
        info = client.publish(f"{config.topic_prefix}/{T_TEST}",
                              json.dumps(payload, ensure_ascii=False), qos=1)
        info.wait_for_publish(timeout)
        if info.is_published():
            delivered = time.time()
        else:
            error = "the broker did not acknowledge in time"
    except (OSError, ValueError, RuntimeError) as exc:
        error = f"cannot reach the broker {broker}: {exc}"
    finally:
        client.loop_stop()
        client.disconnect()
    store.write(lambda c: outbox.alert_test_done(c, alert_id, delivered, error))
    return {"alert_id": alert_id, "topic": f"{config.topic_prefix}/{T_TEST}", "broker": broker,
            "requested_at": iso(now), "delivered_at": iso(delivered), "error": error}
