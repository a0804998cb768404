"""The spine: frames → parsers → sensor state → events → rules → one write transaction.

The same `Pipeline` serves `officeguard ingest` (capture files) and the live agent (sockets).
Observations are aggregated in memory and written in batches; events and findings are written
promptly (the agent flushes within a fraction of a second when an event is pending) because they
are rare and people wait for them. A failed write (full disk, locked file) keeps the batch in
memory for the next attempt, bounded so memory cannot grow without limit.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from agent import events as ev
from agent.capture import Frame
from agent.lan import LanSettings, LanState, StationAgg
from agent.oui import OuiDb, default_db
from agent.parsers.arp import parse_arp_frame
from agent.rules import RuleSet, RuleView, default_rules
from appliance.config import Config
from appliance.findings import FindingChange, FindingDraft, apply_drafts
from appliance.store import Store, StoreError

log = logging.getLogger(__name__)

EVENT_MERGE_S = 60.0  # the same event for the same subject within this window is one row
MAX_PENDING = 200_000


@dataclass
class RunReport:
    """What one ingest run (or one agent lifetime) saw, for the CLI's JSON."""

    frames: int = 0
    arp_frames: int = 0
    undecodable: int = 0
    station_keys: set[tuple[str, str]] = field(default_factory=set)
    events: list[ev.LanEventSeen] = field(default_factory=list)
    finding_keys: set[tuple[str, str]] = field(default_factory=set)
    keep_events: bool = True


def settings_from_config(config: Config, extra_gateways: Iterable[str] = ()) -> LanSettings:
    nets = tuple(
        ipaddress.ip_network(c) for c in (*config.networks.business, *config.networks.guest)
    )
    return LanSettings(
        networks=nets,
        gateways=frozenset((*config.networks.gateways, *extra_gateways)),
        poisoning_window_s=config.lan.poisoning_window_s,
        new_activity_after_s=config.lan.new_activity_after_s,
    )


def view_from_config(config: Config, extra_gateways: Iterable[str] = ()) -> RuleView:
    return RuleView(
        business=tuple(ipaddress.ip_network(c) for c in config.networks.business),
        guest=tuple(ipaddress.ip_network(c) for c in config.networks.guest),
        gateways=frozenset((*config.networks.gateways, *extra_gateways)),
        mac_allowlist=frozenset(config.lan.mac_allowlist),
        allowlist_mode=config.lan.allowlist_mode,
        alert_unknown_stations=config.lan.alert_unknown_stations,
    )


class Pipeline:
    def __init__(
        self,
        config: Config,
        store: Store,
        rules: RuleSet | None = None,
        oui: OuiDb | None = None,
        extra_gateways: Iterable[str] = (),
        report: RunReport | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.rules = rules or RuleSet(default_rules())
        self.oui = oui or default_db()
        self.view = view_from_config(config, extra_gateways)
        self.lan = LanState(settings_from_config(config, extra_gateways), self.oui.lookup)
        self.report = report or RunReport()
        self._pending_stations: dict[tuple[str, str], StationAgg] = {}
        self._pending_events: list[ev.LanEventSeen] = []
        self._pending_drafts: list[FindingDraft] = []
        self.last_flush = time.monotonic()
        self.write_errors = 0
        self.last_error: str | None = None

    def restore(self) -> None:
        rows = self.store.query("SELECT ip, mac, vendor, randomized, first_seen, last_seen, "
                                "frames FROM stations")
        self.lan.restore(rows)

    # -- feeding ----------------------------------------------------------------------------
    def feed(self, frame: Frame) -> None:
        self.report.frames += 1
        try:
            arp = parse_arp_frame(frame.ts, frame.linktype, frame.data)
        except Exception:  # a parser bug must never stop the sensor; count it and go on
            log.exception("parser failed on a frame of %d bytes", len(frame.data))
            self.report.undecodable += 1
            return
        if arp is None:
            return
        self.report.arp_frames += 1
        self.report.station_keys.add((arp.sender_ip, arp.sender_mac))
        for e in self.lan.observe(arp):
            self._on_event(e)

    def _on_event(self, e: ev.LanEventSeen) -> None:
        if self.report.keep_events:
            self.report.events.append(e)
        if len(self._pending_events) < MAX_PENDING:
            self._pending_events.append(e)
        for d in self.rules.evaluate(e, self.view):
            self._pending_drafts.append(d)
            self.report.finding_keys.add((d.rule, d.subject))

    @property
    def urgent(self) -> bool:
        return bool(self._pending_events or self._pending_drafts)

    # -- writing ----------------------------------------------------------------------------
    def flush(self) -> list[FindingChange]:
        for agg in self.lan.take_dirty():
            if len(self._pending_stations) < MAX_PENDING or (agg.ip, agg.mac) in (
                self._pending_stations
            ):
                self._pending_stations[(agg.ip, agg.mac)] = StationAgg(
                    agg.ip, agg.mac, agg.vendor, agg.randomized, agg.first_seen,
                    agg.last_seen, agg.frames, dirty=False)
        stations = list(self._pending_stations.values())
        events = list(self._pending_events)
        drafts = list(self._pending_drafts)
        self.last_flush = time.monotonic()
        if not (stations or events or drafts):
            return []

        def write(conn: sqlite3.Connection) -> list[FindingChange]:
            _write_stations(conn, stations)
            _write_events(conn, events)
            return apply_drafts(conn, drafts)

        try:
            changes = self.store.write(write)
        except StoreError as exc:
            self.write_errors += 1
            self.last_error = str(exc)
            log.error("could not write to the store, keeping %d stations, %d events and %d "
                      "findings in memory for the next attempt: %s",
                      len(stations), len(events), len(drafts), exc)
            return []
        self.last_error = None
        self._pending_stations.clear()
        del self._pending_events[: len(events)]
        del self._pending_drafts[: len(drafts)]
        return changes


def _write_stations(conn: sqlite3.Connection, stations: list[StationAgg]) -> None:
    conn.executemany(
        "INSERT INTO stations (ip, mac, vendor, randomized, first_seen, last_seen, frames) "
        "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (ip, mac) DO UPDATE SET "
        "vendor = excluded.vendor, randomized = excluded.randomized, "
        "first_seen = MIN(first_seen, excluded.first_seen), "
        "last_seen = MAX(last_seen, excluded.last_seen), frames = excluded.frames",
        [(s.ip, s.mac, s.vendor, int(s.randomized), s.first_seen, s.last_seen, s.frames)
         for s in stations],
    )


def _write_events(conn: sqlite3.Connection, events: list[ev.LanEventSeen]) -> None:
    merged: dict[tuple[str, str], list[Any]] = {}
    rows: list[list[Any]] = []
    for e in events:
        key = (e.kind, e.subject)
        row = merged.get(key)
        if row is not None and 0 <= e.ts - row[3] <= EVENT_MERGE_S:
            row[3] = e.ts
            row[4] += 1
            continue
        row = [e.kind, "lan", e.ts, e.ts, 1, e.subject,
               json.dumps({"ip": e.ip, "mac": e.mac, "old_mac": e.old_mac, **e.detail},
                          ensure_ascii=False, default=str)]
        merged[key] = row
        rows.append(row)
    for kind, sensor, ts, last_ts, count, subject, detail in rows:
        prev = conn.execute(
            "SELECT id FROM events WHERE kind = ? AND subject = ? AND last_ts BETWEEN ? AND ? "
            "ORDER BY id DESC LIMIT 1",
            (kind, subject, ts - EVENT_MERGE_S, ts),
        ).fetchone()
        if prev is not None:
            conn.execute(
                "UPDATE events SET last_ts = MAX(last_ts, ?), count = count + ?, detail = ? "
                "WHERE id = ?", (last_ts, count, detail, prev[0]))
        else:
            conn.execute(
                "INSERT INTO events (kind, sensor, ts, last_ts, count, subject, detail) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (kind, sensor, ts, last_ts, count, subject, detail))


def prune(conn: sqlite3.Connection, now: float, retention_days: int) -> dict[str, int]:
    """Retention for raw observations; findings and their history are evidence and stay."""
    cutoff = now - retention_days * 86400
    out = {}
    out["events"] = conn.execute("DELETE FROM events WHERE last_ts < ?", (cutoff,)).rowcount
    out["stations"] = conn.execute("DELETE FROM stations WHERE last_seen < ?", (cutoff,)).rowcount
    out["outbox"] = conn.execute(
        "DELETE FROM outbox WHERE sent_at IS NOT NULL AND sent_at < ?", (cutoff,)).rowcount
    return out
