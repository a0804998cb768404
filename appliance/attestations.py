"""Attestations and their evidence files: recording, listing, verifying, and the facts the
compliance evaluation needs from the store (I/O lives here; the rule lives in compliance.py)."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from appliance import topics
from appliance.compliance import (
    AttestationFact,
    Facts,
    FindingFact,
    Observation,
    condition_id,
)
from appliance.config import Config
from appliance.domain import ACTIVE
from appliance.files import FileTooLarge, NotRegularFile, open_regular
from appliance.findings import FindingDraft
from appliance.guideline import Catalog
from appliance.i18n import both
from appliance.store import aps as aps_q
from appliance.store import attestations as att_q
from appliance.store import findings as outbox
from appliance.store import meta, probes
from appliance.store import observations as obs_q
from appliance.store import surveys as surveys_q

RESULTS = ("pass", "fail", "not_applicable")
MAX_EVIDENCE_BYTES = 50 * 1024 * 1024
MAX_VALID_DAYS = 3650  # ten years: no inspection accepts an attestation older than that
EVIDENCE_READ_TIMEOUT_S = 120.0


def sane_valid_days(v: object) -> int:
    """A stored validity as a usable number of days: a row written before the bound existed
    (or damaged) counts as 0 days — expired, so it proves nothing — instead of breaking the
    listing, the evaluation and every export."""
    return v if isinstance(v, int) and 1 <= v <= MAX_VALID_DAYS else 0


class AttestError(Exception):
    pass


def evidence_dir(config: Config) -> Path:
    return config.data_dir / "evidence"


def _sha256(path: Path) -> tuple[str, int]:
    h = hashlib.sha256()
    size = 0
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size


def _open_evidence(src: Path) -> int:
    """An evidence file opened safely: no symbolic link anywhere in its path (a link could
    hand over /etc/shadow), only a regular file (a FIFO or /dev/zero would never end), at most
    MAX_EVIDENCE_BYTES. Opened non-blocking, so a FIFO cannot hang the open itself."""
    absolute = Path(os.path.abspath(src))
    try:
        real = absolute.resolve(strict=True)
    except (OSError, RuntimeError) as exc:
        raise AttestError(f"cannot read evidence file {src}: "
                          f"{getattr(exc, 'strerror', None) or exc}") from exc
    if real != absolute:
        raise AttestError(f"{src}: the path goes through a symbolic link (to {real}); give "
                          "the real file's path")
    try:
        return open_regular(absolute, MAX_EVIDENCE_BYTES)
    except NotRegularFile as exc:
        raise AttestError(f"{src}: not a regular file (a directory, FIFO or device cannot be "
                          "evidence)") from exc
    except FileTooLarge as exc:
        raise AttestError(f"{src}: larger than {MAX_EVIDENCE_BYTES // 2**20} MB") from exc
    except OSError as exc:
        raise AttestError(f"cannot read evidence file {src}: {exc.strerror}") from exc


def store_evidence(config: Config, src: Path) -> tuple[str, int]:
    """Copy a file into the evidence store under its SHA-256; the original name is not used as
    a path, so a hostile file name cannot escape the folder. The file is read once, from the
    descriptor that was checked, with a size cap and a time limit."""
    dest_dir = evidence_dir(config)
    dest_dir.mkdir(parents=True, exist_ok=True)
    fd = _open_evidence(src)
    tmp_fd, tmp = tempfile.mkstemp(dir=dest_dir, prefix=".incoming-")
    deadline = time.monotonic() + EVIDENCE_READ_TIMEOUT_S
    h = hashlib.sha256()
    size = 0
    try:
        with os.fdopen(fd, "rb") as inp, os.fdopen(tmp_fd, "wb") as out:
            while chunk := inp.read(1 << 20):
                size += len(chunk)
                if size > MAX_EVIDENCE_BYTES:
                    raise AttestError(f"{src}: larger than {MAX_EVIDENCE_BYTES // 2**20} MB")
                if time.monotonic() > deadline:
                    raise AttestError(f"{src}: reading took longer than "
                                      f"{EVIDENCE_READ_TIMEOUT_S:.0f} s; copy it locally first")
                h.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o600)
        digest = h.hexdigest()
        dest = dest_dir / digest
        if dest.exists():
            Path(tmp).unlink()
        else:
            os.replace(tmp, dest)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise AttestError(f"cannot read evidence file {src}: {exc.strerror}") from exc
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return digest, size


def record(conn: sqlite3.Connection, catalog: Catalog, measure: str, check: str, result: str,
           actor: str, note: str, valid_days: int, evidence: list[tuple[str, str, int]],
           now: float | None = None) -> int:
    """One attestation and its evidence rows, in the writer's transaction."""
    now = time.time() if now is None else now
    try:
        m = catalog.measure(measure)
    except KeyError:
        raise AttestError(f"no measure {measure!r} in {catalog.framework_id} "
                          "(see `officeguard guideline`)") from None
    ids = [c["id"] for c in m.checks]
    if check != "*" and check not in ids:
        raise AttestError(f"measure {measure} has no check {check!r} (checks: "
                          f"{', '.join(ids)}; '*' for the whole measure)")
    if m.unidentified:
        raise AttestError(f"measure {measure} is not identified in the source "
                          f"({m.unidentified_en}); nothing can be attested for it")
    if result not in RESULTS:
        raise AttestError(f"result must be one of {', '.join(RESULTS)}")
    if result == "not_applicable":
        if not m.not_applicable:
            raise AttestError(f"measure {measure} is one every facility needs; it cannot be "
                              "declared not applicable")
        if check != "*":
            raise AttestError("not applicable is declared for the whole measure ('*')")
        if not note.strip():
            raise AttestError("declaring a measure not applicable needs a reason (--note)")
    if check != "*":
        kind = next(c for c in m.checks if c["id"] == check)
        if kind["kind"] != "attest":
            raise AttestError(f"check {check} of {measure} is measured by the appliance; "
                              "it cannot be attested")
        top = int(kind.get("max_valid_days", catalog.scheme["validity"]["max_days"]))
    else:
        top = int(catalog.scheme["validity"]["max_days"])
    top = min(top, MAX_VALID_DAYS)
    if not 1 <= valid_days <= top:
        raise AttestError(f"--valid-days must be between 1 and {top} for {measure} {check}")
    attested_on = datetime.fromtimestamp(now).date().isoformat()
    return att_q.add(conn, catalog.framework_id, measure, check, result, actor, note, now,
                     attested_on, valid_days, evidence)


def default_valid_days(catalog: Catalog, measure: str, check: str) -> int:
    dflt = int(catalog.scheme["validity"]["default_days"])
    try:
        m = catalog.measure(measure)
    except KeyError:
        return dflt
    for c in m.checks:
        if c["id"] == check:
            return int(c.get("valid_days", dflt))
    return dflt


_VERIFIED: dict[tuple[str, int, int, int], bool] = {}


def verify_file(config: Config, sha256: str, fresh: bool = False) -> bool:
    """Does the stored evidence still hash to its name? The agent asks every 30 s (MQTT
    states), so a result is remembered while the file's inode, size and mtime are unchanged;
    `fresh` (the `attestations` command) always re-reads the file."""
    p = evidence_dir(config) / sha256
    try:
        st = p.stat()
        key = (str(p), st.st_ino, st.st_size, st.st_mtime_ns)
        if not fresh and key in _VERIFIED:
            return _VERIFIED[key]
        ok = _sha256(p)[0] == sha256
    except OSError:
        return False
    if len(_VERIFIED) > 4096:
        _VERIFIED.clear()
    _VERIFIED[key] = ok
    return ok


def gather_facts(conn: sqlite3.Connection, config: Config, catalog: Catalog,
                 today: date | None = None, now: float | None = None,
                 per_group: int | None = None) -> Facts:
    """per_group: keep only the newest N active findings of each (rule, measure, severity).
    The verdicts and grades only ask whether findings exist and whether there are two or more
    criticals, so N = 2 gives the same result as all of them, at a fraction of the cost (the
    dashboard uses it; exports list every finding)."""
    today = today or date.today()
    now = time.time() if now is None else now
    findings = [FindingFact(r["id"], r["rule"], r["measure"], r["severity"], r["subject"],
                            r["title_ja"], r["title_en"])
                for r in outbox.in_statuses(conn, ACTIVE, per_group)]
    atts = []
    for r in att_q.of_framework(conn, catalog.framework_id):
        ev = tuple({"name": e["name"], "sha256": e["sha256"], "size": e["size"],
                    "hash_ok": verify_file(config, e["sha256"])}
                   for e in att_q.evidence_of(conn, r["id"]))
        atts.append(AttestationFact(r["id"], r["measure"], r["check_id"], r["result"],
                                    r["actor"], r["note"], date.fromisoformat(r["attested_on"]),
                                    sane_valid_days(r["valid_days"]), ev))
    window = max([int(c.get("fresh_days", catalog.scheme["fresh_days"]))
                  for m in catalog.measures for c in m.checks if c["kind"] == "auto"] or [7])
    return Facts(findings, atts, observations(conn, config, now, min(window + 30,
                                                                      OBSERVATION_DAYS)),
                 today, conditions(conn, catalog, now, config))


OBSERVATION_DAYS = 400  # the longest freshness window a framework may ask for


def observations(conn: sqlite3.Connection, config: Config, now: float,
                 probe_days: float = OBSERVATION_DAYS) -> list[Observation]:
    """What the sensors and the probe actually examined, and when. Each check's freshness
    window (framework data) decides what of this is current; probe cycles are read back
    `probe_days` only (the longest window plus a month, so a stale result can still be named)."""
    since = now - OBSERVATION_DAYS * 86400
    out: list[Observation] = []
    names = [s.name for s in config.facility.ssids]
    bssids = [b for s in config.facility.ssids for b in s.bssids]
    if names or bssids:
        out += [Observation("wifi.facility_ap", f"AP {r['bssid']} {r['ssid']} "
                            f"({r['security']})", float(r["last_seen"]))
                for r in aps_q.facility_seen(conn, names, bssids, since)]
    for r in surveys_q.finished_outside(conn, since, now):
        out.append(Observation("wifi.leakage", f"walk-test #{r['id']} {r['label']}",
                               float(r["at"])))
    if config.wifi.boundary_sensor:
        out += [Observation("wifi.leakage", f"boundary sensor: {o.what}", o.at)
                for o in out if o.key == "wifi.facility_ap"]
    for latest_seen, label in ((aps_q.latest_seen, "AP"),
                               (obs_q.latest_station_seen, "station")):
        last = latest_seen(conn)
        if last and last >= since:
            out.append(Observation("wifi.monitoring", f"latest {label} observation",
                                   float(last)))
    agent_raw = meta.get(conn, meta.AGENT)
    if agent_raw is not None:
        beat = json.loads(agent_raw).get("heartbeat_at")
        if beat:
            seen = datetime.fromisoformat(beat).timestamp()
            out.append(Observation("agent.heartbeat", "agent heartbeat", seen))
            if config.storage.retention_days <= 365:
                out.append(Observation(
                    "agent.retention", f"retention {config.storage.retention_days} days "
                    "enforced by the running agent", seen))
    # what probe cycles examined: each check record names its coverage key and the things
    # it examined (agent/probe/checks.py); a record that examined nothing counts for nothing
    # (newest first; only the latest examination of each thing is kept)
    latest: set[tuple[str, str]] = set()
    for r in probes.runs_that_examined(conn, max(since, now - probe_days * 86400)):
        for c in json.loads(r["checks"]):
            key = c.get("coverage")
            if not key or c.get("result") == "unknown":
                continue
            for what in c.get("examined") or ():
                if (key, what) in latest:
                    continue
                latest.add((key, what))
                out.append(Observation(key, str(what), float(r["finished_at"]),
                                       str(c.get("result", ""))))
    return out


def conditions(conn: sqlite3.Connection, catalog: Catalog, now: float,
               config: Config | None = None) -> dict[str, bool]:
    """The not-applicable conditions of the framework that hold now. "No device of class X
    for N days" holds only when the probe has been looking for at least N days. Rental PCs
    are registered, not discovered: "no rental_pc" holds while none is registered (in the
    config file's [[rental_pcs]] or on the dashboard)."""
    out: dict[str, bool] = {}
    registered = bool(config is not None and config.rental_pcs) or probes.has_rental_pcs(conn)
    first = probes.first_finished(conn)
    for m in catalog.measures:
        spec = m.not_applicable or {}
        cond = condition_id(spec)
        if not cond or cond in out:
            continue
        classes = list(spec["no_devices"])
        if classes == ["rental_pc"]:
            out[cond] = not registered
            continue
        days = int(spec.get("days", 30))
        since = now - days * 86400
        out[cond] = (first is not None and first <= since
                     and not probes.class_seen_since(conn, classes, since))
    return out


EVIDENCE_RULE = "evidence.invalid"


def evidence_drafts(conn: sqlite3.Connection, config: Config, catalog: Catalog,
                    now: float) -> list[FindingDraft]:
    """A finding of its measure for each evidence file of a current attestation that is
    missing or no longer matches its hash, and a clearing draft for each that is whole again.
    Fed to apply_drafts, a new one goes to the MQTT outbox like any alert."""
    latest: dict[tuple[str, str], dict[str, Any]] = {}
    for r in att_q.of_framework(conn, catalog.framework_id, passed_only=True):
        latest.setdefault((r["measure"], r["check_id"]), r)
    out = []
    for (measure, check), r in latest.items():
        for e in att_q.evidence_of(conn, r["id"]):
            ok = verify_file(config, e["sha256"], fresh=True)
            subject = f"attestation {r['id']} {e['sha256'][:16]}"
            title_ja, title_en = both("Evidence file missing or changed: {measure} {check} "
                                      "({name})", measure=measure, check=check, name=e["name"])
            message_ja, message_en = both(
                "The attestation counts as failed until its evidence is verified: attest again "
                "with the original file.")
            out.append(FindingDraft(
                EVIDENCE_RULE, measure, "high" if not ok else "info", subject,
                title_ja, title_en, now,
                {"attestation_id": r["id"], "check": check, "name": e["name"],
                 "sha256": e["sha256"]},
                message_ja=message_ja, message_en=message_en,
                clear=ok))
    return out


def expiry_notices(conn: sqlite3.Connection, catalog: Catalog, today: date, days: int,
                   now: float) -> list[dict[str, Any]]:
    """One MQTT notice (outbox topic `notices/expiry`) per attestation that expires within
    `days`, sent once per attestation; returns the notices made now (for e-mail)."""

    made: list[dict[str, Any]] = []
    latest: dict[tuple[str, str], dict[str, Any]] = {}
    for r in att_q.of_framework(conn, catalog.framework_id, passed_only=True):
        latest.setdefault((r["measure"], r["check_id"]), r)
    for (measure, check), r in latest.items():
        valid = sane_valid_days(r["valid_days"])  # a row from an older version may be absurd
        if not valid:
            continue
        expires = date.fromisoformat(r["attested_on"]) + timedelta(days=valid)
        if not today <= expires <= today + timedelta(days=days):
            continue
        alert_id = f"expiry-{r['id']}"
        title_ja, title_en = both("Evidence expires soon: {measure} {check}", measure=measure,
                                  check=check)
        message_ja, message_en = both("It expires on {date}: upload new evidence.",
                                      date=expires.isoformat())
        if outbox.queued(conn, alert_id):
            continue
        payload = {"alert_id": alert_id, "change": "expiring", "severity": "info",
                   "measure": measure, "check": check, "subject": f"{measure} {check}",
                   "expires_on": expires.isoformat(), "time": datetime.fromtimestamp(
                       now).isoformat(timespec="seconds"),
                   "title_ja": title_ja, "title_en": title_en,
                   "message_ja": message_ja, "message_en": message_en}
        outbox.enqueue(conn, alert_id, now, topics.NOTICE_EXPIRY,
                       json.dumps(payload, ensure_ascii=False))
        made.append(payload)
    return made


def list_attestations(conn: sqlite3.Connection, config: Config) -> list[dict[str, Any]]:
    from appliance.timeutil import iso

    out = []
    for r in att_q.every(conn):
        ev = [{"name": e["name"], "sha256": e["sha256"], "size": e["size"],
               "hash_ok": verify_file(config, e["sha256"], fresh=True)}
              for e in att_q.evidence_of(conn, r["id"])]
        out.append({"id": r["id"], "framework": r["framework"], "measure": r["measure"],
                    "check": r["check_id"], "result": r["result"], "by": r["actor"],
                    "note": r["note"], "attested_at": iso(r["attested_at"]),
                    "attested_on": r["attested_on"], "valid_days": r["valid_days"],
                    "expires_on": (date.fromisoformat(r["attested_on"])
                                   + timedelta(days=sane_valid_days(r["valid_days"]))
                                   ).isoformat() if sane_valid_days(r["valid_days"])
                    else "invalid",
                    "evidence": ev})
    return out
