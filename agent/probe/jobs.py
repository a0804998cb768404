"""From configuration to a cycle and back into the store; the schedule the agent runs.

Jobs: `scan` (discovery, ports, fingerprints, firmware, credentials), `isolation` (guest side),
`website` (TLS of the facility's site). Each has its own interval plus random jitter; a job never
overlaps itself, and the cycle runs on its own thread so the sensors never wait for it. A cycle
the dashboard asked for (`run_now`, from agent/commands.py) takes the same lock as a scheduled
one: whoever asked, one cycle at a time.
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import time
from collections.abc import Callable
from typing import Any

from agent.probe import creds as cr
from agent.probe import firmware as fw
from agent.probe import osprobe, peers, record
from agent.probe.engine import Plan, run_cycle
from agent.probe.gate import Settings
from agent.probe.scope import Scope
from appliance.config import Config
from appliance.findings import FindingChange
from appliance.store import Store, observations, probes

log = logging.getLogger("officeguard.probe")
JOBS = ("scan", "isolation", "website")


def build_plan(config: Config, store: Store, scope: list[str] | None = None,
               websites: list[str] | None = None, jobs: tuple[str, ...] = JOBS) -> Plan:
    pc = config.probe
    sc = Scope.parse(scope if scope is not None else pc.scope, pc.allow_public_scope)
    _, catalog = fw.load_catalog(config.data_dir)
    since = time.time() - 7 * 86400
    inv, base, adv, known, sensed, found = store.read_with(lambda c: (
        record.inventory(c, since), record.baseline(c), record.load_advisories(c),
        probes.device_ips_since(c, since), observations.stations_last_seen(c, since),
        probes.devices_last_seen(c, since)))
    from agent.oui import default_db

    oui = default_db()
    return Plan(
        scope=sc, ports=list(pc.ports),
        websites=list(websites if websites is not None else pc.websites), ca_file=pc.ca_file,
        settings=Settings(connect_timeout_s=pc.connect_timeout_s, rate_per_s=pc.rate_per_s,
                          host_rate_per_s=pc.host_rate_per_s,
                          host_concurrency=pc.host_concurrency),
        guest_interface=pc.guest_interface, isolation_allow=list(pc.isolation_allow),
        isolation_peers=list(pc.isolation_peers),
        business=list(config.networks.business), gateways=list(config.networks.gateways),
        credential_classes=list(pc.credentials), snmp_community=pc.snmp_community,
        catalog=catalog, credentials=cr.load() if pc.credentials else [],
        advisories=adv, baseline=base, inventory=inv, known_hosts=known,
        sightings=peers.latest(("sensor", sensed), ("probe", found)),
        isolation_peer_fresh_s=pc.isolation_peer_fresh_s,
        oui=lambda m: oui.lookup(m) or "",
        host_budget_s=pc.host_budget_s, cycle_budget_s=pc.cycle_budget_s, jobs=jobs,
        os=osprobe.plan_for(config, store.read_with(osprobe.registered)))


def run_once(config: Config, store: Store, plan: Plan, save: bool = True
             ) -> tuple[dict[str, Any], list[FindingChange]]:
    doc = asyncio.run(run_cycle(plan))
    out = doc.pop("_outcome")
    changes: list[FindingChange] = []
    if save:
        doc["run_id"], changes = store.write(lambda c: record.record_cycle(c, doc, out))
    return doc, changes


class Scheduler:
    """Due jobs run one cycle at a time on a worker thread; `tick()` is called by the agent."""

    def __init__(self, config: Config, store: Store,
                 on_changes: Callable[[list[FindingChange]], None] | None = None,
                 rng: random.Random | None = None) -> None:
        self.config = config
        self.store = store
        self.on_changes = on_changes
        self.rng = rng or random.Random()
        pc = config.probe
        self.intervals = {"scan": pc.scan_interval_s, "isolation": pc.isolation_interval_s,
                          "website": pc.website_interval_s}
        now = time.monotonic()
        # first runs soon after start, spread by jitter so a fleet does not probe in step
        self.next_due = {j: now + 30 + self._jitter() for j in JOBS}
        self.running: threading.Thread | None = None
        self.last: dict[str, Any] = {}
        # held for the whole of a cycle, scheduled (`tick`) or asked for (`run_now`)
        self._cycle_lock = threading.Lock()

    def _jitter(self) -> float:
        return self.rng.uniform(0, self.config.probe.jitter_s)

    @property
    def enabled(self) -> bool:
        return bool(self.config.probe.scope)

    def configured(self) -> tuple[str, ...]:
        """The jobs this configuration has something for."""
        pc = self.config.probe
        return tuple(j for j in JOBS if not ((j == "isolation" and not pc.guest_interface) or
                                             (j == "website" and not pc.websites)))

    def due(self, now: float) -> tuple[str, ...]:
        return tuple(j for j in self.configured() if now >= self.next_due[j])

    @property
    def busy(self) -> bool:
        """A cycle is running (scheduled or asked for)."""
        return self._cycle_lock.locked()

    def tick(self, now: float | None = None) -> bool:
        """Start the due jobs unless a cycle is still running (a job never overlaps itself,
        nor a cycle the dashboard asked for): a due job then starts at the next tick."""
        now = time.monotonic() if now is None else now
        if not self.enabled or (self.running and self.running.is_alive()):
            return False
        jobs = self.due(now)
        if not jobs or not self._cycle_lock.acquire(blocking=False):
            return False
        for j in jobs:
            self.next_due[j] = now + self.intervals[j] + self._jitter()
        self.running = threading.Thread(target=self._run_locked, args=(jobs, "schedule"),
                                        name="probe", daemon=True)
        try:
            self.running.start()
        except BaseException:
            self._cycle_lock.release()
            raise
        return True

    def run_now(self, requested_by: str = "dashboard") -> dict[str, Any]:
        """Every configured job now, on the calling thread: waits for a cycle in flight to
        finish first (never two at once). Returns the cycle's summary (`last`), with how long
        it waited; raises nothing (a failed cycle says so in "error")."""
        if not self.enabled:
            return {"jobs": [], "error": "the probe scope is empty: nothing may be probed"}
        t0 = time.monotonic()
        waited_for_cycle = self.busy
        self._cycle_lock.acquire()
        doc = self._run_locked(self.configured(), requested_by)
        return {**doc, "waited_s": round(time.monotonic() - t0 - doc.get("duration_s", 0), 3),
                "waited_for_cycle": waited_for_cycle}

    def _run_locked(self, jobs: tuple[str, ...], why: str) -> dict[str, Any]:
        """Run one cycle; the caller acquired the cycle lock, released here."""
        try:
            log.info("probe cycle %s started (%s)", ",".join(jobs), why)
            return self._run(jobs)
        finally:
            self._cycle_lock.release()

    def _run(self, jobs: tuple[str, ...]) -> dict[str, Any]:
        t0 = time.time()
        try:
            plan = build_plan(self.config, self.store, jobs=jobs)
            doc, changes = run_once(self.config, self.store, plan)
            self.last = {"jobs": list(jobs), "at": t0, "hosts": len(doc["hosts"]),
                         "findings": len(doc["findings"]), "duration_s": doc["duration_s"],
                         "run_id": doc.get("run_id"), "error": ""}
            log.info("probe cycle %s: %d hosts, %d findings in %.1f s", ",".join(jobs),
                     len(doc["hosts"]), len(doc["findings"]), doc["duration_s"])
            if self.on_changes and changes:
                self.on_changes(changes)
        except Exception as exc:  # a failed cycle is logged and retried at the next due time
            self.last = {"jobs": list(jobs), "at": t0, "error": f"{type(exc).__name__}: {exc}"}
            log.exception("probe cycle failed")
        return dict(self.last)

    def next_runs(self) -> dict[str, float]:
        now_m, now = time.monotonic(), time.time()
        return {j: now + (t - now_m) for j, t in self.next_due.items()}
