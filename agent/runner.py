"""The agent: preflight (which sensors can run, and why not), then the capture loop.

Stop-aware: a threading.Event ends the loop, the last batch is flushed and the store closed.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from dataclasses import asdict, dataclass
from typing import Any

from agent.pipeline import Pipeline, RunReport, prune
from agent.sources import (
    LiveSource,
    SourceError,
    can_capture,
    default_route_interface,
    interface_exists,
)
from appliance.config import Config
from appliance.store import Store, StoreError, set_meta
from appliance.timeutil import iso

log = logging.getLogger(__name__)

URGENT_FLUSH_S = 0.05
HEARTBEAT_S = 5.0
PRUNE_EVERY_S = 6 * 3600.0


@dataclass(frozen=True, slots=True)
class SensorStatus:
    name: str
    active: bool
    detail: str


def preflight(config: Config) -> tuple[list[SensorStatus], dict[str, Any]]:
    """Decide which sensors can run here; every inactive one says why and what to do."""
    out: list[SensorStatus] = []
    ctx: dict[str, Any] = {"gateways": []}
    iface = config.interfaces.lan
    if not iface:
        route = default_route_interface()
        if route:
            iface, gw = route
            ctx["gateways"] = [gw]
    cap_ok, cap_why = can_capture()
    if not iface:
        out.append(SensorStatus("lan", False, "no LAN interface: interfaces.lan is empty and "
                                "there is no default route to pick one from"))
    elif not interface_exists(iface):
        out.append(SensorStatus("lan", False, f"LAN interface {iface!r} does not exist "
                                "(check interfaces.lan)"))
    elif not cap_ok:
        out.append(SensorStatus("lan", False, cap_why))
    else:
        out.append(SensorStatus("lan", True, f"passive ARP on {iface}"))
    ctx["lan_iface"] = iface

    mon = config.interfaces.monitor
    if not mon:
        out.append(SensorStatus("wifi", False, (
            "no monitor-mode interface (interfaces.monitor is empty). The Raspberry Pi's "
            "built-in radio cannot do monitor mode; plug in a USB Wi-Fi adapter that can "
            "(`iw phy` lists 'monitor') and set interfaces.monitor")))
    elif not interface_exists(mon):
        out.append(SensorStatus("wifi", False, f"monitor interface {mon!r} does not exist"))
    else:
        out.append(SensorStatus("wifi", False, (
            f"{mon} is present, but the Wi-Fi sensor is not part of this build yet "
            "(LAN sensor only)")))
    if not config.probe.scope and not config.probe.websites:
        out.append(SensorStatus("probe", False,
                                "probe.scope is empty: passive monitoring only (the default)"))
    else:
        out.append(SensorStatus("probe", False, "active probing is not part of this build yet"))
    return out, ctx


class Agent:
    def __init__(self, config: Config, store: Store) -> None:
        self.config = config
        self.store = store
        self.stop = threading.Event()
        self.sensors, self.ctx = preflight(config)
        self.started = time.time()
        self.pipeline = Pipeline(
            config, store, extra_gateways=self.ctx["gateways"],
            report=RunReport(keep_events=False),
        )

    def status_doc(self) -> dict[str, Any]:
        return {
            "pid": os.getpid(),
            "started_at": iso(self.started),
            "heartbeat_at": iso(time.time()),
            "sensors": [asdict(s) for s in self.sensors],
            "frames": self.pipeline.report.frames,
            "arp_frames": self.pipeline.report.arp_frames,
            "store_error": self.pipeline.last_error,
        }

    def _heartbeat(self, running: bool = True) -> None:
        doc = self.status_doc()
        doc["running"] = running
        try:
            self.store.write(lambda c: set_meta(c, "agent", json.dumps(doc)))
        except StoreError as exc:
            log.error("heartbeat not written: %s", exc)

    def run(self) -> None:
        for s in self.sensors:
            log.info("sensor %-5s %s: %s", s.name, "active" if s.active else "inactive", s.detail)
        self.pipeline.restore()
        try:
            self.store.write(lambda c: prune(c, time.time(), self.config.storage.retention_days))
        except StoreError as exc:
            log.error("retention pruning failed: %s", exc)
        source = None
        lan = next(s for s in self.sensors if s.name == "lan")
        if lan.active:
            try:
                source = LiveSource(self.ctx["lan_iface"], "arp")
            except SourceError as exc:
                log.error("LAN sensor cannot start: %s", exc)
                self.sensors = [
                    SensorStatus("lan", False, str(exc)) if s.name == "lan" else s
                    for s in self.sensors
                ]
        self._heartbeat()
        if not any(s.active for s in self.sensors):
            log.warning("no sensor is active: the agent idles until stopped (see reasons above)")
        last_beat = last_prune = time.monotonic()
        try:
            if source is not None:
                for frame in source.frames(self.stop):
                    if frame is not None:
                        self.pipeline.feed(frame)
                    last_beat, last_prune = self._tick(last_beat, last_prune)
            else:
                while not self.stop.wait(0.5):
                    last_beat, last_prune = self._tick(last_beat, last_prune)
        finally:
            if source is not None:
                source.close()
            self.pipeline.flush()
            self._heartbeat(running=False)
            log.info("agent stopped")

    def _tick(self, last_beat: float, last_prune: float) -> tuple[float, float]:
        now = time.monotonic()
        since = now - self.pipeline.last_flush
        if (self.pipeline.urgent and since >= URGENT_FLUSH_S) or (
            since >= self.config.storage.flush_interval_s
        ):
            self.pipeline.flush()
        if now - last_beat >= HEARTBEAT_S:
            self._heartbeat()
            last_beat = now
        if now - last_prune >= PRUNE_EVERY_S:
            try:
                self.store.write(
                    lambda c: prune(c, time.time(), self.config.storage.retention_days))
            except StoreError as exc:
                log.error("retention pruning failed: %s", exc)
            last_prune = now
        return last_beat, last_prune
