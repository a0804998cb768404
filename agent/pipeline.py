"""The spine: frames → parsers → sensor state → events → rules → one write transaction.

The same `Pipeline` serves `officeguard ingest` (capture files) and the live agent (sockets).
Observations are aggregated in memory and written in batches; events and findings are written
promptly (the agent flushes within a fraction of a second when an event is pending) because they
are rare and people wait for them. A failed write (full disk, locked file) keeps the batch in
memory for the next attempt, bounded so memory cannot grow without limit.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import logging
import sqlite3
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from agent import events as ev
from agent import hints
from agent import survey as survey_mod
from agent.capture import LINKTYPE_ETHERNET, LINKTYPE_MASK, LINKTYPE_RADIOTAP, Frame
from agent.lan import LanSettings, LanState
from agent.oui import OuiDb, default_db
from agent.parsers.arp import parse_arp_payload
from agent.parsers.dot11 import BeaconSeen, WpsInfo, parse_mgmt
from agent.parsers.link import ETH_ARP, dot11_data_payload, ethernet_payload
from agent.parsers.radio import (
    FLAG_FCS,
    HOT_LAYOUTS,
    hot_layout,
    parse_radiotap,
    split_radio,
)
from agent.rules import FacilitySsid, RuleSet, RuleView, default_rules
from agent.survey import SurveyAcc
from agent.wifi import (
    ApAgg,
    WifiEventSeen,
    WifiSettings,
    WifiState,
    count_frame,
    flood_judge_s,
    ssid_text,
    wps_json,
)
from appliance.config import Config
from appliance.findings import FindingChange, FindingDraft, apply_drafts
from appliance.store import Store, StoreError, observations
from appliance.store import aps as aps_table
from appliance.timeutil import iso

log = logging.getLogger(__name__)

EVENT_MERGE_S = 60.0  # the same event for the same subject within this window is one row
MAX_PENDING = 200_000


@dataclass
class RunReport:
    """What one ingest run (or one agent lifetime) saw, for the CLI's JSON."""

    frames: int = 0
    arp_frames: int = 0
    wifi_frames: int = 0
    undecodable: int = 0
    station_keys: set[tuple[str, str]] = field(default_factory=set)
    events: list[tuple[Any, ...]] = field(default_factory=list)  # event_row; see event_json
    finding_keys: set[tuple[str, str]] = field(default_factory=set)
    keep_events: bool = True  # False in the agent: a report must not grow for months


def event_row(e: ev.LanEventSeen | WifiEventSeen) -> tuple[Any, ...]:
    """What the ingest report keeps of an event (a tuple: thousands of them are kept until the
    report is printed, a third of the memory of the dicts `event_json` makes of them)."""
    if isinstance(e, WifiEventSeen):
        return ("wifi", e.kind, e.ts, e.subject, e.ap.bssid if e.ap else e.subject,
                e.ap.ssid if e.ap else None, e.detail)
    return ("lan", e.kind, e.ts, e.subject, e.ip, e.mac, e.old_mac or None, e.detail)


def event_json(row: tuple[Any, ...]) -> dict[str, Any]:
    """An event as `officeguard ingest --json` prints it."""
    if row[0] == "wifi":
        _, kind, ts, subject, bssid, ssid, detail = row
        return {"kind": kind, "sensor": "wifi", "time": iso(ts), "subject": subject,
                "bssid": bssid, "ssid": ssid, "detail": detail}
    _, kind, ts, subject, ip, mac, old_mac, detail = row
    return {"kind": kind, "sensor": "lan", "time": iso(ts), "subject": subject,
            "ip": ip, "mac": mac, "old_mac": old_mac, "detail": detail}


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


def wifi_settings_from_config(config: Config) -> WifiSettings:
    c = config.wifi
    hop_cycle_s = 0.0 if c.fixed_channel else c.dwell_s * (
        len(c.channels_24) + len(c.channels_5))  # at most: unsupported channels are skipped
    return WifiSettings(min_frames=c.min_frames, deauth_flood_per_s=c.deauth_flood_per_s,
                        beacon_flood_new_bssids=c.beacon_flood_new_bssids,
                        beacon_flood_window_s=c.beacon_flood_window_s,
                        beacon_flood_judge_s=flood_judge_s(hop_cycle_s))


def view_from_config(config: Config, extra_gateways: Iterable[str] = ()) -> RuleView:
    return RuleView(
        ssids=tuple(FacilitySsid(s.name, frozenset(s.bssids), s.role)
                    for s in config.facility.ssids),
        boundary_sensor=config.wifi.boundary_sensor,
        leakage_threshold_dbm=config.wifi.leakage_threshold_dbm,
        lookalike_distance=config.wifi.lookalike_distance,
        min_frames=config.wifi.min_frames,
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
        self.wifi = WifiState(wifi_settings_from_config(config), self.oui.lookup)
        self.report = report or RunReport()
        self._facility_names = frozenset(s.name.encode() for s in config.facility.ssids)
        self._facility_bssids = frozenset(b for s in config.facility.ssids for b in s.bssids)
        self._pending_stations: dict[tuple[str, str], tuple[Any, ...]] = {}
        self._pending_aps: dict[str, tuple[Any, ...]] = {}
        self._withdrawn_aps: set[str] = set()  # a beacon flood's fakes to delete from the store
        self._inflight: tuple[Future[list[FindingChange]], _Batch] | None = None
        self.surveys: dict[int, SurveyAcc] = {}  # running leakage surveys
        self._pending_rssi: dict[tuple[str, int], list[int]] = {}
        self._pending_events: list[ev.LanEventSeen | WifiEventSeen] = []
        self._pending_drafts: list[FindingDraft] = []
        self._pending_hints: dict[tuple[str, str], tuple[Any, ...]] = {}
        self._restored: dict[str, int] = {}  # BSSID -> frames counted when restored
        self.last_flush = time.monotonic()
        self.write_errors = 0
        self.last_error: str | None = None

    def restore(self) -> None:
        rows = self.store.read_with(observations.all_stations)
        self.lan.restore(rows)
        restore_aps(self.wifi, self.store.read_with(aps_table.load_all))
        self._restored = {b: _frames_of(a) for b, a in self.wifi.aps.items()}

    def aps_heard(self) -> list[str]:
        """The BSSIDs of the APs heard since `restore` (an ingest's report lists them), in
        order; never a beacon flood's fakes."""
        restored = self._restored
        return sorted(b for b, a in self.wifi.aps.items()
                      if not a.flood and _frames_of(a) != restored.get(b))

    # -- feeding ----------------------------------------------------------------------------
    def feed(self, frame: Frame) -> None:
        self.feed_raw(frame.ts, frame.linktype, frame.data)

    def feed_raw(self, ts: float, linktype: int, data: bytes) -> None:
        self.feed_records(((ts, linktype, data),))

    def feed_records(self, records: Iterable[tuple[float, int, bytes]]) -> None:
        """Feed (time, link type, bytes) records, as `capture.read_records` yields them."""
        it = iter(records)
        while True:
            try:
                self._feed(it)
                return
            except Exception:  # a parser bug must never stop the sensor; count it and go on
                log.exception("parser failed on a frame")
                self.report.undecodable += 1

    def _feed(self, it: Iterator[tuple[float, int, bytes]]) -> None:
        """The hot loop. A radiotap beacon or probe response whose content its AP sent before
        and that changed nothing then (the common case: an AP repeats itself ten times a second,
        its TIM aside) is only counted, here, without building the frame's objects: the bytes
        from the beacon interval on are compared with the AP's quick content (see
        `WifiState._set_quick`). Anything else, or anything that differs, takes the whole
        path. Every line here runs for most frames: keep it short."""
        layouts = HOT_LAYOUTS
        radiotap = LINKTYPE_RADIOTAP
        by_raw = self.wifi.by_raw
        hold = self.wifi.s.flood_hold_s
        report = self.report
        facility = self._facility_names
        whole = self._dispatch
        frames = quick = 0
        lay: tuple[int, int, int, int] | None = None
        lkey = b"-"  # the first 8 bytes of the last radiotap frame: a capture repeats a few
        try:
            for frames, (ts, lt, data) in enumerate(it, 1):  # noqa: B007 - read in finally
                if lt != radiotap:
                    whole(ts, lt, data)
                    continue
                if not data.startswith(lkey):
                    lkey = data[:8]
                    lay = layouts.get(lkey) or hot_layout(data)
                if lay is None:
                    lkey = b"-"  # looked up again next time (this frame may be cut short)
                    whole(ts, lt, data)
                    continue
                hlen, flags_o, chan_o, sig_o = lay
                n = len(data)
                fc0 = data[hlen] if n >= hlen + 40 else -1
                if fc0 == 0x80:
                    beacon = True
                elif fc0 == 0x50:
                    beacon = False
                else:
                    if fc0 & 0x0F == 0x08 and data[hlen + 1] & 0x40:
                        continue  # a protected data frame: encrypted, nothing to read
                    whole(ts, lt, data)
                    continue
                ap = by_raw.get(data[hlen + 16:hlen + 22])
                if ap is None:
                    whole(ts, lt, data)
                    continue
                q = ap.quick_beacon if beacon else ap.quick_probe
                if q is None or (ap.flood and ts - ap.first_seen >= hold):
                    whole(ts, lt, data)
                    continue
                end = n - 4 if flags_o >= 0 and data[flags_o] & FLAG_FCS else n
                start = hlen + (36 if data[hlen + 1] & 0x80 else 32)
                pre, suf, freq = q
                if (freq != ((data[chan_o] | (data[chan_o + 1] << 8)) or None if chan_o >= 0
                             else None) or not data.startswith(pre, start)):
                    whole(ts, lt, data)
                    continue
                p = start + len(pre)
                if suf is None:
                    if p != end:
                        whole(ts, lt, data)
                        continue
                elif not (p + 2 <= end and data[p] == 5 and end - (t := p + 2 + data[p + 1])
                          == len(suf) and data.endswith(suf, t, end)):  # the TIM, then the rest
                    whole(ts, lt, data)
                    continue
                quick += 1
                sig = data[sig_o] if sig_o >= 0 else None
                if sig is not None and sig > 127:
                    sig -= 256
                count_frame(ap, ts, beacon, sig)  # all that the whole path would do for it
                if facility and sig is not None:
                    self._facility_signal(ap.bssid, ts, sig)
        finally:
            report.frames += frames
            report.wifi_frames += quick

    def tick(self, now: float) -> None:
        """The Wi-Fi state's clock (frame or wall time): a beacon flood found by judging new
        BSSIDs once they have waited long enough, even when no frame reaches the state."""
        for e in self.wifi.tick(now):
            self._on_event(e)

    def _dispatch(self, ts: float, linktype: int, data: bytes) -> None:
        if linktype == LINKTYPE_RADIOTAP:
            split = parse_radiotap(data)
        elif linktype & LINKTYPE_MASK == LINKTYPE_ETHERNET:
            np = ethernet_payload(data)
            if np is not None and np.ethertype == ETH_ARP:
                self._arp(ts, np.payload, np.src)
            elif np is not None and np.ethertype == 0x0800:  # DHCP/mDNS/LLMNR/NetBIOS hints
                hints.observe(self._pending_hints, ts, np.src, np.payload)
            return
        else:
            split = split_radio(linktype, data)  # other radio headers, or a record cut short
        if split is None:
            return
        radio, f = split
        if len(f) < 24:
            return
        ftype = (f[0] >> 2) & 3
        if ftype == 0:
            m = parse_mgmt(ts, f, radio)
            if m is None:
                return
            self.report.wifi_frames += 1
            if isinstance(m, BeaconSeen):
                for e in self.wifi.observe_beacon(m):
                    self._on_event(e)
                if self._facility_names and radio.signal_dbm is not None:
                    self._facility_signal(m.bssid, ts, radio.signal_dbm)
            else:
                for e in self.wifi.observe_deauth(m):
                    self._on_event(e)
        elif ftype == 2:
            np = dot11_data_payload(f)
            if np is not None and np.ethertype == ETH_ARP:
                self._arp(ts, np.payload, np.src)

    def _facility_signal(self, bssid: str, ts: float, dbm: int) -> None:
        """A facility AP's signal: per-minute RSSI and any survey running."""
        ap = self.wifi.aps.get(bssid)
        if ap is not None and (bssid in self._facility_bssids or ap.ssid in self._facility_names):
            self._note_rssi(bssid, ts, dbm)
            for acc in self.surveys.values():
                acc.add(bssid, ssid_text(ap.ssid), dbm)

    def _arp(self, ts: float, payload: bytes, src: bytes) -> None:
        arp = parse_arp_payload(ts, payload, src)
        if arp is None:
            return
        self.report.arp_frames += 1
        if self.report.keep_events:
            self.report.station_keys.add((arp.sender_ip, arp.sender_mac))
        for e in self.lan.observe(arp):
            self._on_event(e)

    def _note_rssi(self, bssid: str, ts: float, dbm: int) -> None:
        key = (bssid, int(ts // 60))
        agg = self._pending_rssi.get(key)
        if agg is None:
            if len(self._pending_rssi) < MAX_PENDING:
                self._pending_rssi[key] = [dbm, dbm, dbm, 1]
            return
        agg[0] = min(agg[0], dbm)
        agg[1] = max(agg[1], dbm)
        agg[2] += dbm
        agg[3] += 1

    def _on_event(self, e: ev.LanEventSeen | WifiEventSeen) -> None:
        if self.report.keep_events:
            self.report.events.append(event_row(e))
        if len(self._pending_events) < MAX_PENDING:
            self._pending_events.append(e)
        for d in self.rules.evaluate(e, self.view):
            self._pending_drafts.append(d)
            if self.report.keep_events:
                self.report.finding_keys.add((d.rule, d.subject))  # a clear may resolve one

    def add_drafts(self, drafts: list[FindingDraft]) -> None:
        """Findings decided outside the frame path (self-health), written with the next batch."""
        self._pending_drafts.extend(drafts)

    @property
    def urgent(self) -> bool:
        return bool(self._pending_events or self._pending_drafts)

    @property
    def backlog(self) -> int:
        """Events and findings waiting for the next write (each holds an AP snapshot)."""
        return len(self._pending_events) + len(self._pending_drafts)

    # -- writing ----------------------------------------------------------------------------
    def flush(self, wait: bool = True, counters: bool = True) -> list[FindingChange]:
        """Write what is pending in one transaction on the store's writer thread.

        With wait=False (ingest) the write runs while parsing goes on; at most one write is
        in flight. With counters=False an AP whose counters alone moved waits for a later
        write (see `WifiState.take_dirty`). A write that fails puts its batch back in front of
        what is pending, so nothing is lost (memory stays bounded by MAX_PENDING).
        """
        changes = self._settle()
        for agg in self.lan.take_dirty():
            key = (agg.ip, agg.mac)
            if len(self._pending_stations) < MAX_PENDING or key in self._pending_stations:
                # only the growth since the last write is written, and added in SQL, so
                # another writer's counts (an ingest beside the agent) are kept
                delta = agg.frames - agg.written
                agg.written = agg.frames
                prev = self._pending_stations.get(key)
                self._pending_stations[key] = (
                    agg.ip, agg.mac, agg.vendor, int(agg.randomized), agg.first_seen,
                    agg.last_seen, delta + (prev[6] if prev else 0))
        for bssid in self.wifi.take_withdrawn():
            self._pending_aps.pop(bssid, None)
            self._withdrawn_aps.add(bssid)
        for ap in self.wifi.take_dirty(counters):
            if len(self._pending_aps) < MAX_PENDING or ap.bssid in self._pending_aps:
                row = ap_row(ap)
                now = tuple(int(row[i] or 0) for i in aps_table.COUNTER_IDX)
                before = ap.written or (0,) * len(now)
                ap.written = now
                self._pending_aps[ap.bssid] = _ap_add(
                    _ap_delta(row, now, before), self._pending_aps.get(ap.bssid))
        survey_rows = [r for acc in self.surveys.values() for r in acc.take()]
        batch = _Batch(self._pending_stations, self._pending_aps, self._pending_rssi,
                       self._pending_events, self._pending_drafts, survey_rows,
                       self._pending_hints, self._withdrawn_aps)
        self._pending_hints = {}
        self._withdrawn_aps = set()
        self._pending_stations, self._pending_aps, self._pending_rssi = {}, {}, {}
        self._pending_events, self._pending_drafts = [], []
        self.last_flush = time.monotonic()
        if batch.empty():
            return changes
        self._inflight = (self.store.submit(batch.write), batch)
        if wait:
            changes += self._settle()
        return changes

    def _settle(self) -> list[FindingChange]:
        if self._inflight is None:
            return []
        fut, batch = self._inflight
        self._inflight = None
        try:
            changes: list[FindingChange] = fut.result()
        except StoreError as exc:
            self.write_errors += 1
            self.last_error = str(exc)
            log.error("could not write to the store, keeping %d stations, %d APs, %d events "
                      "and %d findings in memory for the next attempt: %s",
                      len(batch.stations), len(batch.aps), len(batch.events),
                      len(batch.drafts), exc)
            for k, v in batch.stations.items():  # the growth of both batches, added
                newer = self._pending_stations.get(k)
                self._pending_stations[k] = v if newer is None else (
                    *newer[:6], newer[6] + v[6])
            for k2, a in batch.aps.items():
                self._pending_aps[k2] = _ap_add(self._pending_aps[k2], a) \
                    if k2 in self._pending_aps else a
            for k4, hint in batch.hints.items():
                self._pending_hints.setdefault(k4, hint)
            self._withdrawn_aps |= batch.withdrawn
            for k3, r in batch.rssi.items():
                self._pending_rssi.setdefault(k3, r)
            self._pending_events[:0] = batch.events[: MAX_PENDING]
            self._pending_drafts[:0] = batch.drafts
            for row in batch.survey_rows:  # put the samples back into their surveys
                acc = self.surveys.get(row[0])
                if acc is not None:
                    prev = acc.samples.get(row[1])
                    if prev is None:
                        acc.samples[row[1]] = [row[3], row[4], row[5], row[6], row[2]]
                    else:
                        prev[0], prev[1] = min(prev[0], row[3]), max(prev[1], row[4])
                        prev[2] += row[5]
                        prev[3] += row[6]
            return []
        self.last_error = None
        return changes


@dataclass
class _Batch:
    stations: dict[tuple[str, str], tuple[Any, ...]]
    aps: dict[str, tuple[Any, ...]]
    rssi: dict[tuple[str, int], list[int]]
    events: list[ev.LanEventSeen | WifiEventSeen]
    drafts: list[FindingDraft]
    survey_rows: list[tuple[Any, ...]] = field(default_factory=list)
    hints: dict[tuple[str, str], tuple[Any, ...]] = field(default_factory=dict)
    withdrawn: set[str] = field(default_factory=set)

    def empty(self) -> bool:
        return not (self.stations or self.aps or self.rssi or self.events or self.drafts
                    or self.survey_rows or self.hints or self.withdrawn)

    def write(self, conn: sqlite3.Connection) -> list[FindingChange]:
        survey_mod.write_samples(conn, self.survey_rows)
        _write_stations(conn, list(self.stations.values()))
        aps_table.delete(conn, self.withdrawn)
        aps_table.upsert(conn, list(self.aps.values()))
        _write_rssi(conn, [(b, m, *v) for (b, m), v in self.rssi.items()])
        _write_events(conn, self.events)
        hints.write(conn, list(self.hints.values()))
        return apply_drafts(conn, self.drafts)


_write_stations = observations.write_stations  # the SQL is the store's


def _event_row(e: ev.LanEventSeen | WifiEventSeen) -> tuple[str, str, float, str, str]:
    if isinstance(e, WifiEventSeen):
        detail: dict[str, Any] = dict(e.detail)
        if e.ap is not None:
            detail.update(bssid=e.ap.bssid, ssid=e.ap.ssid, security=e.ap.security)
        return e.kind, "wifi", e.ts, e.subject, json.dumps(detail, ensure_ascii=False,
                                                            default=str)
    return e.kind, "lan", e.ts, e.subject, json.dumps(
        {"ip": e.ip, "mac": e.mac, "old_mac": e.old_mac, **e.detail}, ensure_ascii=False,
        default=str)


def _write_events(conn: sqlite3.Connection, events: list[ev.LanEventSeen | WifiEventSeen]
                  ) -> None:
    merged: dict[tuple[str, str], list[Any]] = {}
    rows: list[list[Any]] = []
    for e in events:
        kind, sensor, ts, subject, detail = _event_row(e)
        key = (kind, subject)
        row = merged.get(key)
        if row is not None and 0 <= ts - row[3] <= EVENT_MERGE_S:
            row[3] = ts
            row[4] += 1
            row[6] = detail
            continue
        row = [kind, sensor, ts, ts, 1, subject, detail]
        merged[key] = row
        rows.append(row)
    observations.merge_events(conn, rows, EVENT_MERGE_S)


def _ap_delta(row: tuple[Any, ...], now: tuple[int, ...], before: tuple[int, ...]
              ) -> tuple[Any, ...]:
    out = list(row)
    for i, n, b in zip(aps_table.COUNTER_IDX, now, before, strict=True):
        out[i] = n - b
    return tuple(out)


def _ap_add(newer: tuple[Any, ...], older: tuple[Any, ...] | None) -> tuple[Any, ...]:
    """Two pending rows of one AP: the newer values, the growth of both."""
    if older is None:
        return newer
    out = list(newer)
    for i in aps_table.COUNTER_IDX:
        out[i] = (newer[i] or 0) + (older[i] or 0)
    return tuple(out)


@functools.lru_cache(maxsize=4096)
def _json_of(v: tuple[Any, ...]) -> str:
    """A list column's JSON text; APs repeat the same few lists in every batch."""
    return json.dumps(list(v))


@functools.lru_cache(maxsize=1024)
def _wps_text(w: WpsInfo) -> str:
    return json.dumps(wps_json(w), ensure_ascii=False)


def ap_row(ap: ApAgg) -> tuple[Any, ...]:
    """One access_points row, in `appliance.store.aps.COLUMNS` order."""
    return (
        ap.bssid, ssid_text(ap.ssid), ap.ssid.hex(), int(ap.hidden), ap.channel,
        ap.frequency_mhz, ap.band, ap.security, _json_of(ap.akm),
        _json_of(ap.pairwise), ap.group_cipher, ap.pmf, int(ap.privacy),
        _wps_text(ap.wps) if ap.wps else None,
        ap.vendor, int(ap.randomized), ap.country, ap.tx_power_dbm,
        _json_of(tuple(p for p, on in (("ht", ap.ht), ("vht", ap.vht), ("he", ap.he)) if on)),
        ap.rssi_min, ap.rssi_max, ap.rssi_sum, ap.rssi_n, ap.rssi_last, ap.beacons,
        ap.probe_responses, ap.malformed, _json_of(tuple(ap.profiles)),
        _json_of(tuple(ap.channels)), ap.first_seen, ap.last_seen,
    )


_write_rssi = observations.write_rssi


def _frames_of(ap: ApAgg) -> int:
    return ap.beacons + ap.probe_responses


def restore_aps(state: WifiState, rows: list[dict[str, Any]]) -> None:
    """Rebuild the in-memory AP table from the store (restarts, repeated ingests)."""
    for r in rows:
        # first_seen <= last_seen, as count_frame relies on (a damaged row may say otherwise)
        ap = ApAgg(r["bssid"], min(r["first_seen"], r["last_seen"]), r["last_seen"],
                   r["vendor"], bool(r["randomized"]))
        ap.ssid = bytes.fromhex(r["ssid_hex"])
        ap.hidden = bool(r["hidden"])
        ap.beacon_hidden = ap.hidden and bool(ap.ssid)
        ap.channel, ap.band, ap.frequency_mhz = r["channel"], r["band"], r["frequency_mhz"]
        ap.privacy, ap.security, ap.pmf = bool(r["privacy"]), r["security"], r["pmf"]
        ap.pairwise = tuple(json.loads(r["pairwise"]))
        ap.akm = tuple(json.loads(r["akm"]))
        ap.group_cipher = r["group_cipher"]
        ap.country, ap.tx_power_dbm = r["country"], r["tx_power_dbm"]
        if r["wps"]:
            wj = json.loads(r["wps"])
            ap.wps = WpsInfo(version=wj.get("version"),
                             state={"unconfigured": 1, "configured": 2}.get(wj.get("state")),
                             locked=wj.get("locked"), manufacturer=wj.get("manufacturer"),
                             model_name=wj.get("model_name"),
                             model_number=wj.get("model_number"),
                             device_name=wj.get("device_name"))
        ap.rssi_min, ap.rssi_max, ap.rssi_last = r["rssi_min"], r["rssi_max"], r["rssi_last"]
        ap.rssi_sum, ap.rssi_n = r["rssi_sum"], r["rssi_n"]
        ap.beacons, ap.probe_responses = r["beacons"], r["probe_responses"]
        ap.malformed = r["malformed_frames"]
        ap.profiles = list(json.loads(r["profiles"]))
        ap.profile_counts = {p: 10**6 for p in ap.profiles}
        ap.channels = list(json.loads(r["channels_seen"]))
        ap.channel_counts = {c: 10**6 for c in ap.channels}
        ap.confirmed = bool(ap.profiles) or ap.probe_responses > 0
        ap.dirty = ap.changed = False
        ap.written = tuple(int(r[c] or 0) for c in aps_table.COUNTERS)
        state.put(ap)
        if ap.ssid:
            state.by_ssid.setdefault(ap.ssid, set()).add(ap.bssid)
