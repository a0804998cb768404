"""Leakage surveys (3-③): how strong the facility's own Wi-Fi is at a labelled place.

A survey is a row in `surveys` (started by `officeguard survey start`, the dashboard, or
`officeguard ingest --survey` for a walk-test capture). While it runs, the pipeline adds the
signal of every facility BSSID to it; when it ends, each BSSID heard above the threshold at an
"outside" place raises `wifi.signal_leakage`, and one heard below it resolves that finding.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass, field
from typing import Any

from agent.rules.wifi import leakage_draft
from appliance.findings import FindingDraft, apply_drafts
from appliance.store import surveys as q


@dataclass
class SurveyAcc:
    id: int
    label: str
    location: str
    threshold_dbm: float
    ends_at: float | None
    samples: dict[str, list[Any]] = field(default_factory=dict)  # bssid -> [min,max,sum,n,ssid]

    def add(self, bssid: str, ssid: str, dbm: int) -> None:
        s = self.samples.get(bssid)
        if s is None:
            self.samples[bssid] = [dbm, dbm, dbm, 1, ssid]
            return
        s[0] = min(s[0], dbm)
        s[1] = max(s[1], dbm)
        s[2] += dbm
        s[3] += 1

    def take(self) -> list[tuple[Any, ...]]:
        rows = [(self.id, b, v[4], v[0], v[1], v[2], v[3]) for b, v in self.samples.items()]
        self.samples = {}
        return rows


def start(conn: sqlite3.Connection, label: str, threshold_dbm: float, location: str = "outside",
          seconds: float | None = None, source: str = "live", now: float | None = None) -> int:
    now = time.time() if now is None else now
    return q.start(conn, label, location, now, now + seconds if seconds else None, source,
                   threshold_dbm)


def stop(conn: sqlite3.Connection, survey_id: int | None, now: float | None = None) -> int:
    now = time.time() if now is None else now
    if survey_id is None:
        return q.stop_running(conn, now)
    return q.stop_one(conn, survey_id, now)


active = q.active  # the rows are the store's (appliance/store/surveys.py)
write_samples = q.write_samples
mark_stopped = q.mark_stopped


def verdict_drafts(survey: dict[str, Any], samples: list[dict[str, Any]], min_samples: int
                   ) -> list[FindingDraft]:
    """Pure: the findings a finished survey implies."""
    if survey["location"] != "outside":
        return []
    out = []
    ts = survey.get("stopped_at") or survey.get("ends_at") or survey["started_at"]
    for s in samples:
        if s["n"] < min_samples:
            continue
        mean = s["sum"] / s["n"]
        subject = f"{s['bssid']} @ {survey['label']}"
        d = leakage_draft(s["bssid"], s["ssid"], mean, survey["threshold_dbm"],
                          survey["label"], ts, subject)
        if mean <= survey["threshold_dbm"]:
            d = FindingDraft(d.rule, d.measure, "info", subject, "", "", ts, clear=True)
        out.append(d)
    return out


def finish(conn: sqlite3.Connection, survey_id: int, min_samples: int) -> list[dict[str, Any]]:
    """Apply a finished survey's verdicts (inside the writer's transaction)."""
    survey = q.get(conn, survey_id)
    if survey is None:
        raise KeyError(survey_id)
    samples = q.samples(conn, survey_id)
    apply_drafts(conn, verdict_drafts(survey, samples, min_samples))
    return samples


def summary(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    from appliance.timeutil import iso

    out = []
    for s in q.every(conn):
        samples = []
        for r in q.samples(conn, s["id"]):
            mean = r["sum"] / r["n"] if r["n"] else None
            samples.append({"bssid": r["bssid"], "ssid": r["ssid"], "samples": r["n"],
                            "rssi_dbm": {"min": r["min"], "max": r["max"],
                                         "mean": round(mean, 1) if mean is not None else None},
                            "leaks": s["location"] == "outside" and mean is not None
                            and mean > s["threshold_dbm"]})
        out.append({"id": s["id"], "label": s["label"], "location": s["location"],
                    "source": s["source"], "started_at": iso(s["started_at"]),
                    "ends_at": iso(s["ends_at"]), "stopped_at": iso(s["stopped_at"]),
                    "threshold_dbm": s["threshold_dbm"], "bssids": samples})
    return out
