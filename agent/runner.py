"""The agent: preflight (which sensors can run, and why not), then the capture loop.

Between batches of frames the loop ticks a small supervisor (agent/supervisor.py) that runs the
registered periodic jobs: flush, health, retention, export, evidence, surveys, probes, settings,
heartbeat and the systemd watchdog, each on its interval from the config's `[agent]` table.
Stop-aware: a threading.Event ends the loop, the last batch is flushed and the store closed.
"""

from __future__ import annotations

import json
import logging
import os
import select
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from agent import health, sdnotify
from agent.capture import Frame
from agent.monitor import (
    MONITOR_FILTER,
    ChannelHopper,
    Runner,
    check_monitor,
    enable_monitor,
    hop_plan,
    run_iw,
)
from agent.parsers.dhcp import BPF_LAN
from agent.pipeline import Pipeline, RunReport
from agent.retention import prune, prune_to_size
from agent.sources import (
    LiveSource,
    SourceError,
    can_capture,
    default_route_interface,
    interface_exists,
)
from agent.supervisor import Job, Supervisor
from agent.survey import SurveyAcc
from agent.survey import active as survey_active
from agent.survey import finish as survey_finish
from appliance.config import Config, ConfigError, apply_settings, read_settings, settings_mtime
from appliance.store import Store, StoreError, set_meta
from appliance.store import exports as exports_q
from appliance.timeutil import iso

log = logging.getLogger(__name__)

URGENT_FLUSH_S = 0.05
# jobs that also run while the clock is not set yet (they write nothing dated)
CLOCK_FREE_JOBS = frozenset({"watchdog"})


@dataclass(frozen=True, slots=True)
class SensorStatus:
    name: str
    active: bool
    detail: str


def preflight(config: Config, iw: Runner = run_iw,
              setup: Callable[[str], None] | None = None
              ) -> tuple[list[SensorStatus], dict[str, Any]]:
    """Decide which sensors can run here; every inactive one says why and what to do.

    SETUP puts a monitor-capable radio that is in another mode into monitor mode (the agent
    passes enable_monitor; tests with a fake `iw` pass nothing)."""
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
    ctx["wifi_channels"] = []
    if not mon:
        out.append(SensorStatus("wifi", False, (
            "no monitor-mode interface (interfaces.monitor is empty). The Raspberry Pi's "
            "built-in radio cannot do monitor mode; plug in a USB Wi-Fi adapter that can "
            "(`iw phy` lists 'monitor') and set interfaces.monitor")))
    else:
        chk = check_monitor(mon, iw)
        if not chk.ok and chk.fixable and setup is not None:
            try:
                setup(mon)
            except OSError as exc:
                log.error("could not put %s into monitor mode: %s", mon, exc)
            else:
                log.info("put %s into monitor mode", mon)
                chk = check_monitor(mon, iw)
        if not chk.ok:
            out.append(SensorStatus("wifi", False, chk.detail))
        elif not cap_ok:
            out.append(SensorStatus("wifi", False, cap_why))
        else:
            w = config.wifi
            plan = hop_plan(w.channels_24, w.channels_5, w.fixed_channel, chk.channels)
            ctx["wifi_channels"] = plan
            how = (f"fixed on channel {plan[0]}" if len(plan) == 1
                   else f"hopping over {len(plan)} channels, {w.dwell_s} s each")
            out.append(SensorStatus("wifi", bool(plan), f"{chk.detail}; {how}" if plan else
                                    "none of the configured channels is supported by "
                                    f"{mon}: check wifi.channels_24 / wifi.channels_5"))
    pc = config.probe
    if not pc.scope:
        out.append(SensorStatus("probe", False,
                                "probe.scope is empty: passive monitoring only (the default)"))
    else:
        jobs = [f"scan every {pc.scan_interval_s / 3600:g} h"]
        if pc.guest_interface:
            jobs.append(f"isolation from {pc.guest_interface} every "
                        f"{pc.isolation_interval_s / 3600:g} h")
        if pc.websites:
            jobs.append(f"{len(pc.websites)} web site(s) every "
                        f"{pc.website_interval_s / 3600:g} h")
        out.append(SensorStatus("probe", True, f"scope {', '.join(pc.scope)}; "
                                + "; ".join(jobs)))
    return out, ctx


class FrameSource(Protocol):
    """A live source the agent can wait on: a LiveSource, or a fake radio in tests."""

    def fileno(self) -> int: ...
    def read(self) -> Frame | None: ...
    def close(self) -> None: ...


class Agent:
    def __init__(self, config: Config, store: Store, iw: Runner = run_iw,
                 wifi_source: FrameSource | None = None, config_path: str | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.frames_before_clock = 0
        self._clock_warned = False
        self.config_path = config_path
        self._export: threading.Thread | None = None
        self._export_period = ""
        self.export_error: str | None = None  # why the last monthly export failed
        self._watchdog = sdnotify.watchdog_interval_s()
        self.health_reading: health.HealthReading | None = None
        self._sources: list[FrameSource] = []
        self.config = config
        self.store = store
        self.stop = threading.Event()
        self.iw = iw
        # the real radio is put into monitor mode when needed; a fake `iw` (tests) is not
        self.sensors, self.ctx = preflight(config, iw, enable_monitor if iw is run_iw else None)
        self._wifi_override = wifi_source
        if wifi_source is not None:
            self._set("wifi", True, "injected radio source")
        self.hopper: ChannelHopper | None = None
        self.settings_mtime = settings_mtime(config.data_dir)  # load() applied this one
        self.publisher: Any = None
        self.prober: Any = None
        if config.probe.scope:
            from agent.probe.jobs import Scheduler

            self.prober = Scheduler(config, store)
        self.station: Any = None  # the appliance's guest Wi-Fi station (agent/station.py)
        if config.probe.guest_wifi.interface:
            from agent.station import SENSOR, GuestStation

            self.station = GuestStation(config.probe.guest_wifi, config.data_dir)
            self.sensors.append(SensorStatus(SENSOR, False, self.station.detail))
        self.started = time.time()
        from agent.commands import Drainer  # the dashboard's requests (#15)

        self.export_lock = threading.Lock()  # one export at a time: monthly or asked for
        self.commands = Drainer(config, store, lambda: self.prober, config_path,
                                self.export_lock)
        self.pipeline = Pipeline(
            config, store, extra_gateways=self.ctx["gateways"],
            report=RunReport(keep_events=False),
        )
        self.supervisor = Supervisor()
        self._register_jobs()

    def _register_jobs(self) -> None:
        """The periodic jobs, in the order they run within a tick. Adding one is one line:
        `self.supervisor.add(Job(name, self.config.agent.<name>_s, callable))`."""
        a, add = self.config.agent, self.supervisor.add
        add(Job("flush", URGENT_FLUSH_S, self._flush))
        add(Job("export", a.export_check_s, lambda: self._maybe_export(datetime.now()),
                first_after_s=a.export_check_s))  # the first look comes after a while
        add(Job("health", a.health_every_s, self._check_health))
        add(Job("evidence", a.evidence_every_s, self._check_evidence))
        add(Job("surveys", a.survey_check_s, self._sync_surveys))
        add(Job("probes", a.probe_check_s, self._tick_probes))
        add(Job("commands", a.commands_every_s, self._drain_commands))
        if self._watchdog:
            add(Job("watchdog", self._watchdog, self._ping_watchdog))
        add(Job("settings", a.settings_check_s, self._check_settings))
        add(Job("heartbeat", a.heartbeat_s, self._heartbeat, first_after_s=a.heartbeat_s))
        add(Job("retention", a.prune_every_s, self._prune, first_after_s=a.prune_every_s))

    def _flush(self) -> None:
        self.pipeline.tick(time.time())
        since = time.monotonic() - self.pipeline.last_flush
        if (self.pipeline.urgent and since >= URGENT_FLUSH_S) or (
            since >= self.config.storage.flush_interval_s
        ):
            self.pipeline.flush()

    def _drain_commands(self) -> None:
        self.commands.drain_once()  # the dashboard asks, the agent acts (agent/commands.py)

    def _tick_probes(self) -> None:
        if self.prober is not None:
            self.prober.tick(time.monotonic())

    def _ping_watchdog(self) -> None:
        if self.healthy():  # a stuck or broken agent stops pinging and systemd restarts it
            sdnotify.notify("WATCHDOG=1\nSTATUS=" + self._status_line())

    def _check_settings(self) -> None:
        if settings_mtime(self.config.data_dir) != self.settings_mtime:
            self._reload_settings()
            self.supervisor.soon("heartbeat")  # say at once that they were applied

    def _prune(self) -> None:
        """Retention: raises StoreError when pruning fails (the supervisor logs and counts)."""
        s = self.config.storage
        gone = self.store.write(lambda c: prune(c, time.time(), s.retention_days))
        if any(gone.values()):
            log.info("retention (storage.retention_days = %d): removed raw observations "
                     "recorded before the window: %s (findings are kept)", s.retention_days,
                     ", ".join(f"{k} {v}" for k, v in gone.items() if v))
        n = self.store.write(lambda c: prune_to_size(c, s.max_db_mb * 2**20))
        if n:
            log.warning("the database reached storage.max_db_mb (%d MB): dropped the %d "
                        "oldest raw observations (findings are kept)", s.max_db_mb, n)

    def _reload_settings(self) -> None:
        """Apply what the dashboard saved without a restart: the facility's SSIDs (the rules'
        view is rebuilt), the probe scope and the MQTT broker (the publisher reconnects)."""
        mtime = settings_mtime(self.config.data_dir)
        old_mqtt, old_scope = self.config.mqtt, self.config.probe.scope
        try:
            apply_settings(self.config, read_settings(self.config.data_dir))
        except ConfigError as exc:
            log.error("the saved settings are not valid; the running ones stay: %s", exc)
            self.settings_mtime = mtime
            return
        self.settings_mtime = mtime
        self.pipeline.flush()
        old = self.pipeline
        self.pipeline = Pipeline(self.config, self.store, extra_gateways=self.ctx["gateways"],
                                 report=old.report)
        self.pipeline.surveys = old.surveys
        self.pipeline.restore()
        if self.config.probe.scope != old_scope:
            if self.config.probe.scope and self.prober is None:
                from agent.probe.jobs import Scheduler

                self.prober = Scheduler(self.config, self.store)
            elif not self.config.probe.scope and self.prober is not None and (
                    self.prober.running is None):
                self.prober = None
        if self.config.mqtt != old_mqtt:
            if self.publisher is not None:
                self.publisher.close()
                self.publisher = None
            self.sensors = [s for s in self.sensors if s.name != "mqtt"]
            self._start_publisher()
        log.info("applied the settings saved from the dashboard (facility %r, %d SSIDs)",
                 self.config.facility.name, len(self.config.facility.ssids))

    def _check_health(self) -> None:
        data_dir = self.config.data_dir
        if self.pipeline.last_error and "disk" in self.pipeline.last_error and (
                health.release_reserve(data_dir)):
            log.warning("the disk is full: released the reserve so the health finding and the "
                        "pending batch can be written")
        packets = drops = 0
        for src in self._sources:
            stats = getattr(src, "stats", None)
            if stats is not None:
                p, d = stats()
                packets, drops = packets + p, drops + d
        r = health.read(data_dir, [self.ctx.get("lan_iface") or "",
                                   self.config.interfaces.monitor], (packets, drops))
        self.health_reading = r
        if not r.clock_ok:
            log.warning("the clock is not set yet (no NTP?): times recorded now will be wrong")
        drafts = health.health_drafts(r, self.config.health)
        self.pipeline.add_drafts(drafts)
        if r.disk_free_mb is not None and r.disk_free_mb > 2 * self.config.health.disk_min_free_mb:
            health.ensure_reserve(data_dir)

    def _check_evidence(self) -> None:
        """Re-hash the evidence of current attestations: a missing or changed file is a
        finding of its measure (and so an MQTT alert); expiries near are MQTT notices."""
        from datetime import date

        from appliance import attestations as att
        from appliance.guideline import catalog_for

        catalog = catalog_for(self.config)
        drafts = self.store.read_with(
            lambda c: att.evidence_drafts(c, self.config, catalog, time.time()))
        self.pipeline.add_drafts(drafts)
        days = self.config.mqtt.expiry_notice_days
        notices = self.store.write(lambda c: att.expiry_notices(
            c, catalog, date.today(), days, time.time()))
        ex = self.config.exports
        if notices and ex.email_to and ex.smtp_host:
            from appliance.export import ExportError, notice_email

            def send() -> None:  # the MQTT notice is already queued; e-mail is the second
                try:             # channel, sent off the capture loop (SMTP may take 30 s)
                    log.info("expiry notice e-mail: %s", notice_email(self.config, notices))
                except ExportError as exc:
                    log.error("expiry notice e-mail not sent (the MQTT notice was): %s", exc)

            threading.Thread(target=send, name="expiry-mail", daemon=True).start()

    def clock_ok(self) -> bool:
        """A Pi has no real-time clock: until NTP has set it, nothing is recorded, so no
        finding, event or export ever carries a 1970 date."""
        ok = self.clock() >= health.EARLIEST_SANE
        if not ok and not self._clock_warned:
            log.warning("the clock is not set yet (no NTP?): observations are not recorded "
                        "until it is")
            self._clock_warned = True
        elif ok and self._clock_warned:
            log.info("the clock is set: recording (%d frames were skipped before)",
                     self.frames_before_clock)
            self._clock_warned = False
        return ok

    def healthy(self) -> bool:
        """Sensors that should run are running and the store accepts writes."""
        wanted = [s for s in self.sensors if s.active and s.name in ("lan", "wifi")]
        return self.pipeline.last_error is None and len(self._sources) >= len(wanted)

    def _status_line(self) -> str:
        active = ",".join(s.name for s in self.sensors if s.active) or "none"
        return (f"sensors: {active}; frames {self.pipeline.report.frames}"
                + (f"; store error: {self.pipeline.last_error}" if self.pipeline.last_error
                   else ""))

    def _maybe_export(self, now: datetime) -> None:
        """The monthly inspector export (exports.schedule = "agent"): last month's, once, after
        02:00 on the 1st (or later if the appliance was off). It runs in a thread, one at a
        time, so capture goes on; the data and the PDF are made in child processes
        (appliance/export.py), so the PDF renderer's memory never stays in the agent."""
        if self._export is not None:
            if self._export.is_alive():
                return  # never two at once
            self._export.join()
            self._export = None
        if self.config.exports.schedule != "agent" or now.hour < 2:
            return
        first = now.replace(day=1)
        last_month = (first - timedelta(days=1)).strftime("%Y-%m")
        if self.store.read_with(lambda c: exports_q.has_period(c, last_month)):
            return
        log.info("starting the monthly export of %s", last_month)
        self._export_period = last_month
        self._export = threading.Thread(target=self._export_month, args=(last_month,),
                                        name="monthly-export", daemon=True)
        self._export.start()

    def _export_month(self, label: str) -> None:
        from appliance import export as ex

        try:
            with self.export_lock:  # one export at a time, monthly or asked for
                done = ex.run_export(self.store, self.config, ex.parse_period(label, None, None),
                                     pdf_in_child=True)  # the renderer's memory leaves with it
        except (ex.ExportError, StoreError, OSError) as exc:
            self.export_error = str(exc)
            log.error("the monthly export of %s failed (retried at the next check): %s",
                      label, exc)
        except Exception as exc:  # noqa: BLE001 - a thread's error would otherwise be lost
            self.export_error = f"{type(exc).__name__}: {exc}"
            log.exception("the monthly export of %s failed", label)
        else:
            self.export_error = None
            log.info("monthly export %s written to %s%s", label, done.folder,
                     f"; {done.email}" if done.email else "")

    def _start_publisher(self) -> None:
        if not self.config.mqtt.host:
            self.sensors.append(SensorStatus("mqtt", False, "mqtt.host is empty: no alerts "
                                             "to phones (findings stay on the dashboard)"))
            return
        from agent.mqtt import MqttError, Publisher

        try:
            self.publisher = Publisher(self.config, self.store, self._mqtt_state)
            self.publisher.start()
        except (MqttError, ConfigError) as exc:
            log.error("MQTT alerts cannot start: %s", exc)
            self.sensors.append(SensorStatus("mqtt", False, str(exc)))
            return
        self.sensors.append(SensorStatus(
            "mqtt", True, f"alerts to {self.config.mqtt.host}:{self.config.mqtt.port} under "
            f"{self.config.topic_prefix}/"))

    def _mqtt_state(self) -> dict[str, Any]:
        from appliance.attestations import gather_facts
        from appliance.compliance import evaluate
        from appliance.guideline import catalog_for

        catalog = catalog_for(self.config)
        doc = evaluate(catalog, self.store.read_with(
            lambda c: gather_facts(c, self.config, catalog)))
        health_doc = {k: v for k, v in self.status_doc().items()
                      if k in ("sensors", "store_error", "channel", "started_at")}
        health_doc["outbox_backlog"] = self.publisher.backlog() if self.publisher else None
        if self.health_reading is not None:
            health_doc.update(self.health_reading.to_json())
        return {"compliance": doc, "health": health_doc}

    def _sync_surveys(self) -> None:
        """Pick up surveys started from the CLI or the dashboard; finish the ones that ended."""
        try:
            now = time.time()
            running = {s["id"]: s for s in self.store.read_with(
                lambda c: survey_active(c, now))}
        except StoreError as exc:
            log.error("cannot read surveys: %s", exc)
            return
        pipe = self.pipeline
        for sid, s in running.items():
            if sid not in pipe.surveys:
                log.info("survey %d (%s) started", sid, s["label"])
                pipe.surveys[sid] = SurveyAcc(sid, s["label"], s["location"],
                                              s["threshold_dbm"], s["ends_at"])
        ended = [sid for sid in pipe.surveys if sid not in running]
        if not ended:
            return
        pipe.flush()  # the last samples first
        min_frames = self.config.wifi.min_frames
        for sid in ended:
            del pipe.surveys[sid]

            def finish(c: sqlite3.Connection, i: int = sid) -> None:
                survey_finish(c, i, min_frames)

            try:
                self.store.write(finish)
                log.info("survey %d finished", sid)
            except StoreError as exc:
                log.error("survey %d could not be finished: %s", sid, exc)

    def _set(self, name: str, active: bool, detail: str) -> None:
        self.sensors = [SensorStatus(name, active, detail) if s.name == name else s
                        for s in self.sensors]

    def _open_sources(self) -> list[FrameSource]:
        sources: list[FrameSource] = []
        lan = next(s for s in self.sensors if s.name == "lan")
        if lan.active:
            try:
                sources.append(LiveSource(self.ctx["lan_iface"], BPF_LAN))
            except SourceError as exc:
                log.error("LAN sensor cannot start: %s", exc)
                self._set("lan", False, str(exc))
        wifi = next(s for s in self.sensors if s.name == "wifi")
        if self._wifi_override is not None:
            sources.append(self._wifi_override)
        elif wifi.active:
            mon = self.config.interfaces.monitor
            try:
                sources.append(LiveSource(mon, MONITOR_FILTER))
            except SourceError as exc:
                log.error("Wi-Fi sensor cannot start: %s", exc)
                self._set("wifi", False, str(exc))
            else:
                self.hopper = ChannelHopper(mon, self.ctx["wifi_channels"],
                                            self.config.wifi.dwell_s, self.iw)
                self.hopper.start()
        return sources

    def status_doc(self) -> dict[str, Any]:
        return {
            "pid": os.getpid(),
            "started_at": iso(self.started),
            "heartbeat_at": iso(time.time()),
            "sensors": [asdict(s) for s in self.sensors],
            "frames": self.pipeline.report.frames,
            "arp_frames": self.pipeline.report.arp_frames,
            "wifi_frames": self.pipeline.report.wifi_frames,
            "channel": self.hopper.current if self.hopper else None,
            "store_error": self.pipeline.last_error,
            "health": self.health_reading.to_json() if self.health_reading else None,
            "frames_before_clock": self.frames_before_clock,
            "settings_mtime": self.settings_mtime,
            "probe": ({"last": self.prober.last, "next": {
                j: iso(t) for j, t in self.prober.next_runs().items()}}
                if self.prober else None),
            "jobs": self.supervisor.status(),
            "export": {"period": self._export_period or None,
                       "running": self._export is not None and self._export.is_alive(),
                       "error": self.export_error},
        }

    def _note_unclean_stop(self) -> None:
        """A health finding when the last run ended without its final heartbeat (watchdog,
        crash, power cut); written with the first batch."""
        try:
            raw = self.store.get_meta("agent")
            previous = json.loads(raw) if raw else None
        except (StoreError, ValueError) as exc:
            log.error("previous heartbeat unreadable: %s", exc)
            return
        draft = health.unclean_stop_draft(previous, time.time())
        if draft is not None:
            log.warning("the previous run did not stop cleanly (last heartbeat %s)",
                        previous.get("heartbeat_at") if previous else "?")
            self.pipeline.add_drafts([draft])

    def _heartbeat(self, running: bool = True) -> None:
        """The status document in the store's meta table (the dashboard and `officeguard
        status` read it); raises StoreError when it cannot be written."""
        doc = self.status_doc()
        doc["running"] = running
        self.store.write(lambda c: set_meta(c, "agent", json.dumps(doc)))

    def run(self) -> None:
        for s in self.sensors:
            log.info("sensor %-5s %s: %s", s.name, "active" if s.active else "inactive", s.detail)
        self.pipeline.restore()
        self.supervisor.run_now("retention")
        sources = self._open_sources()
        if self.station is not None:
            self.station.start(lambda ok, why: self._set("guest_wifi", ok, why))
        self._start_publisher()
        self._note_unclean_stop()
        self.supervisor.run_now("heartbeat")
        self._sources = sources
        sdnotify.notify("READY=1\nSTATUS=" + self._status_line())
        if not any(s.active for s in self.sensors):
            log.warning("no sensor is active: the agent idles until stopped (see reasons above)")
        try:
            while not self.stop.is_set():
                if sources:
                    ready, _, _ = select.select(sources, [], [], 0.1)
                    for src in ready:
                        for _ in range(512):  # drain, but let the other source have a turn
                            frame = src.read()
                            if frame is None:
                                break
                            if self.clock_ok():
                                self.pipeline.feed(frame)
                            else:
                                self.frames_before_clock += 1
                else:
                    self.stop.wait(0.5)
                self._tick()
        finally:
            sdnotify.notify("STOPPING=1")
            if self._export is not None and self._export.is_alive():
                log.info("waiting for the monthly export to finish")
                self._export.join(120)  # a daemon thread: an export still stuck is abandoned
            if self.prober is not None and self.prober.running is not None:
                self.prober.running.join(10)  # a cycle in flight gets a moment to record
            self.commands.wait(10)  # so does one the dashboard asked for
            if self.publisher is not None:
                self.publisher.close()
            if self.hopper is not None:
                self.hopper.close()
            if self.station is not None:
                self.station.stop()
            for src in sources:
                src.close()
            self.pipeline.flush()
            try:
                self._heartbeat(running=False)
            except StoreError as exc:
                log.error("the last heartbeat was not written: %s", exc)
            log.info("agent stopped")

    def _tick(self) -> None:
        """Run the due jobs; while the clock is not set, only those that write nothing dated."""
        if not self.clock_ok():
            self.supervisor.tick(only=lambda j: j.name in CLOCK_FREE_JOBS)
            return
        self.supervisor.tick()
