"""`officeguard ingest`: feed capture files through the live pipeline, then report what was seen."""

from __future__ import annotations

import functools
import json
import logging
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TextIO

from agent import survey as survey_mod
from agent.capture import SUPPORTED_LINKTYPES, CaptureError, ReadStats, read_batches
from agent.pipeline import Pipeline, RunReport, event_json
from agent.retention import add_hold
from agent.rules.wifi import is_own_ap
from agent.survey import SurveyAcc
from agent.wifi_json import ap_to_json
from appliance.config import Config
from appliance.findings import finding_to_json
from appliance.store import Store, observation_lock, observations
from appliance.store import findings as findings_q
from appliance.timeutil import iso

log = logging.getLogger(__name__)

BATCH_FRAMES = 2_000  # frames read, then fed at once (a few hundred kB); then a look at the clock
# How often to hand a batch to the writer while reading (the dashboard sees a long ingest
# progress). A write while reading costs more than its own work: the writer thread takes the
# GIL back for every row, and each batch rewrites every AP changed since the last one
# (bench_wifi: writing at every 1,000 events made the 500,000-frame ingest about 12 % slower
# than one write at the end). So: every BATCH_SECONDS, or sooner when BATCH_EVENTS events wait
# (each holds an AP snapshot, about 400 bytes: 4 MB at most); memory does not grow with the
# interval otherwise (one pending row per AP or station).
BATCH_SECONDS = 5.0
BATCH_EVENTS = 10_000


def ingest_files(
    config: Config, store: Store, files: list[str | Path], keep_events: bool = True,
    survey: str | None = None, survey_location: str = "outside",
) -> dict[str, Any]:
    """Feed FILES through the pipeline; one ingest at a time per database (see
    `observation_lock`)."""
    with observation_lock(store.path):
        return _ingest_files(config, store, files, keep_events, survey, survey_location)


def _ingest_files(
    config: Config, store: Store, files: list[str | Path], keep_events: bool,
    survey: str | None, survey_location: str,
) -> dict[str, Any]:
    report = RunReport(keep_events=keep_events)
    pipe = Pipeline(config, store, report=report)
    pipe.restore()
    survey_id = None
    if survey is not None:
        source = "capture:" + ",".join(Path(f).name for f in files)
        survey_id = store.write(lambda c: survey_mod.start(
            c, survey, config.wifi.leakage_threshold_dbm, survey_location, source=source))
        pipe.surveys[survey_id] = SurveyAcc(survey_id, survey, survey_location,
                                            config.wifi.leakage_threshold_dbm, None)
    files_out = []
    started = time.perf_counter()
    lo = hi = None
    for path in files:
        stats = ReadStats()
        error = None
        first_ts = ts = None
        try:
            for chunk in read_batches(path, stats, BATCH_FRAMES):
                if first_ts is None:
                    first_ts = chunk[0][0]
                ts = chunk[-1][0]
                pipe.feed_records(chunk)
                pipe.tick(ts)  # the capture's clock: new BSSIDs judged, floods ended
                if (time.monotonic() - pipe.last_flush >= BATCH_SECONDS
                        or pipe.backlog >= BATCH_EVENTS):
                    pipe.flush(wait=False, counters=False)  # the last flush writes them
        except CaptureError as exc:
            error = str(exc)
            log.error("%s", exc)
        finally:
            if first_ts is not None and ts is not None:
                lo = min(x for x in (lo, first_ts, ts) if x is not None)
                hi = max(x for x in (hi, first_ts, ts) if x is not None)
        linktypes = stats.linktypes
        unsupported = sorted(lt for lt in linktypes if lt not in SUPPORTED_LINKTYPES)
        files_out.append({
            "file": str(path),
            "frames": stats.frames,
            "linktypes": sorted(linktypes),
            "unsupported_linktypes": unsupported,
            "truncated": stats.truncated,
            "skipped": stats.skipped,
            "error": error,
        })
        if stats.skipped:
            log.warning("%s: %d frame(s) left out (%s)", path, stats.skipped, stats.skip_reason)
        if stats.truncated:
            log.warning("%s: %s; frames before it were used", path, stats.truncated)
    pipe.flush()
    survey_doc = None
    if survey_id is not None:
        sid = survey_id

        def finish(c: sqlite3.Connection) -> list[dict[str, Any]]:
            survey_mod.mark_stopped(c, sid, time.time())
            survey_mod.finish(c, sid, config.wifi.min_frames)
            return [s for s in survey_mod.summary(c) if s["id"] == sid]

        survey_doc = store.write(finish)[0]
        for s in survey_doc["bssids"]:
            report.finding_keys.add(("wifi.signal_leakage", f"{s['bssid']} @ {survey}"))
    retention = _hold_old_frames(config, store, lo, hi)
    elapsed = time.perf_counter() - started
    doc = build_report(store, report, files_out, elapsed, pipe.last_error, pipe)
    doc["retention"] = retention
    if survey_doc is not None:
        doc["survey"] = survey_doc
    return doc


def _hold_old_frames(config: Config, store: Store, lo: float | None, hi: float | None
                     ) -> dict[str, Any] | None:
    """Frames older than the retention window are kept, counted from now (never pruned in
    silence at the agent's next start): a hold is recorded and the operator is told."""
    if lo is None or hi is None:
        return None
    days = config.storage.retention_days
    now = time.time()
    if lo >= now - days * 86400:
        return None
    store.write(lambda c: add_hold(c, lo, hi, now))
    msg = (f"the capture's frames ({iso(lo)} to {iso(hi)}) are older than "
           f"storage.retention_days ({days} days): they are kept, and expire {days} days "
           f"from now (counted from when they were recorded, not from the capture's clock)")
    log.warning("%s", msg)
    return {"oldest_frame": iso(lo), "newest_frame": iso(hi), "retention_days": days,
            "kept_until": iso(now + days * 86400), "message": msg}


def build_report(
    store: Store, report: RunReport, files: list[dict[str, Any]], elapsed: float,
    store_error: str | None, pipe: Pipeline,
) -> dict[str, Any]:
    stations = []
    for ip, mac in sorted(report.station_keys):
        row = store.read_with(functools.partial(observations.station, ip=ip, mac=mac))
        agg = report_station(row) if row else None
        if agg:
            stations.append(agg)
    findings = []
    for rule, subject in sorted(report.finding_keys):
        row = store.read_with(functools.partial(findings_q.by_key, rule=rule, subject=subject))
        if row:
            findings.append(finding_to_json(row))
    facility = pipe.view
    keep = pipe.aps_heard()

    def ap_docs() -> Iterator[dict[str, Any]]:
        for bssid in keep:
            ap = pipe.wifi.aps[bssid]
            doc = ap_to_json(ap)
            doc["facility"] = is_own_ap(facility, ap.bssid, doc["ssid"], ap.hidden)
            yield doc

    aps = LazyList(len(keep), ap_docs)
    return {
        "files": files,
        "frames": report.frames,
        "arp_frames": report.arp_frames,
        "wifi_frames": report.wifi_frames,
        "seconds": round(elapsed, 3),
        "stations": stations,
        "access_points": aps,
        "events": LazyList(len(report.events), lambda: map(event_json, report.events)),
        "findings": findings,
        "store_error": store_error,
    }


_COMPACT = json.JSONEncoder(ensure_ascii=False, default=str)  # C-accelerated (no indent)


def write_json(doc: dict[str, Any], out: TextIO) -> None:
    """The report as `ingest --json` prints it: indented, except that each item of a long list
    (access points, events, stations, findings) is one compact line. Python's JSON encoder is
    written in C only without indentation, so this keeps the time to print thousands of AP
    records small; every item is still written while it is made (`LazyList`)."""
    out.write("{")
    sep = "\n"
    for key, value in doc.items():
        out.write(f"{sep}  {json.dumps(key)}: ")
        sep = ",\n"
        if isinstance(value, list) and value:
            out.write("[")
            lead = "\n    "
            for item in value:
                out.write(lead + _COMPACT.encode(item))
                lead = ",\n    "
            out.write("\n  ]")
        else:
            out.write(json.dumps(value, ensure_ascii=False, indent=2, default=str)
                      .replace("\n", "\n  "))
    out.write("\n}\n")


class LazyList(list):  # type: ignore[type-arg]
    """A list whose items are made while `json.dump` writes them, so a report of thousands of
    APs never sits in memory whole. Only iteration and len() are supported."""

    def __init__(self, n: int, make: Callable[[], Iterator[Any]]) -> None:
        super().__init__()
        self._n = n
        self._make = make

    def __iter__(self) -> Iterator[Any]:
        return self._make()

    def __len__(self) -> int:
        return self._n

    def __bool__(self) -> bool:
        return self._n > 0


def report_station(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "ip": row["ip"],
        "mac": row["mac"],
        "vendor": row["vendor"],
        "randomized": bool(row["randomized"]),
        "first_seen": iso(row["first_seen"]),
        "last_seen": iso(row["last_seen"]),
        "frames": row["frames"],
    }
