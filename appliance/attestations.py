"""Attestations and their evidence files: recording, listing, verifying, and the facts the
compliance evaluation needs from the store (I/O lives here; the rule lives in compliance.py)."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import stat
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from appliance.compliance import ACTIVE, AttestationFact, Facts, FindingFact
from appliance.config import Config
from appliance.guideline import Catalog

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
        fd = os.open(absolute, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise AttestError(f"cannot read evidence file {src}: {exc.strerror}") from exc
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise AttestError(f"{src}: not a regular file (a directory, FIFO or device cannot be "
                          "evidence)")
    if st.st_size > MAX_EVIDENCE_BYTES:
        os.close(fd)
        raise AttestError(f"{src}: larger than {MAX_EVIDENCE_BYTES // 2**20} MB")
    os.set_blocking(fd, True)
    return fd


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
    if check != "*":
        kind = next(c for c in m.checks if c["id"] == check)
        if kind["kind"] != "attest" and result != "not_applicable":
            raise AttestError(f"check {check} of {measure} is measured by the appliance; "
                              "it cannot be attested (only declared not applicable)")
    if result not in RESULTS:
        raise AttestError(f"result must be one of {', '.join(RESULTS)}")
    if result == "not_applicable" and not note.strip():
        raise AttestError("declaring a measure not applicable needs a reason (--note)")
    if not 1 <= valid_days <= MAX_VALID_DAYS:
        raise AttestError(f"--valid-days must be 1 to {MAX_VALID_DAYS} (ten years)")
    attested_on = datetime.fromtimestamp(now).date().isoformat()
    aid = int(conn.execute(
        "INSERT INTO attestations (framework, measure, check_id, result, actor, note, "
        "attested_at, attested_on, valid_days) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        (catalog.framework_id, measure, check, result, actor, note, now, attested_on,
         valid_days)).fetchone()[0])
    conn.executemany(
        "INSERT INTO evidence (attestation_id, name, sha256, size, added_at) "
        "VALUES (?, ?, ?, ?, ?)", [(aid, name, digest, size, now)
                                   for name, digest, size in evidence])
    return aid


def default_valid_days(catalog: Catalog, measure: str, check: str) -> int:
    try:
        m = catalog.measure(measure)
    except KeyError:
        return 365
    for c in m.checks:
        if c["id"] == check:
            return int(c.get("valid_days", 365))
    return 365


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
    marks = ",".join("?" for _ in ACTIVE)
    if per_group is None:
        sql = f"SELECT * FROM findings WHERE status IN ({marks}) ORDER BY id"  # noqa: S608
        params: tuple[object, ...] = ACTIVE
    else:
        sql = ("SELECT * FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY rule, measure, "  # noqa: S608
               f"severity ORDER BY last_seen DESC, id DESC) AS rn FROM findings WHERE status "
               f"IN ({marks})) WHERE rn <= ? ORDER BY id")
        params = (*ACTIVE, per_group)
    findings = [FindingFact(r["id"], r["rule"], r["measure"], r["severity"], r["subject"],
                            r["title_ja"], r["title_en"]) for r in conn.execute(sql, params)]
    atts = []
    for r in conn.execute("SELECT * FROM attestations WHERE framework = ? ORDER BY id DESC",
                          (catalog.framework_id,)):
        ev = tuple({"name": e["name"], "sha256": e["sha256"], "size": e["size"],
                    "hash_ok": verify_file(config, e["sha256"])} for e in conn.execute(
            "SELECT * FROM evidence WHERE attestation_id = ? ORDER BY id", (r["id"],)))
        atts.append(AttestationFact(r["id"], r["measure"], r["check_id"], r["result"],
                                    r["actor"], r["note"], date.fromisoformat(r["attested_on"]),
                                    sane_valid_days(r["valid_days"]), ev))
    return Facts(findings, atts, coverage(conn, config, now), today)


def coverage(conn: sqlite3.Connection, config: Config, now: float) -> dict[str, bool]:
    names = [s.name for s in config.facility.ssids]
    bssids = [b for s in config.facility.ssids for b in s.bssids]
    facility_aps = False
    if names or bssids:
        marks_n = ",".join("?" * len(names)) or "''"
        marks_b = ",".join("?" * len(bssids)) or "''"
        q = (f"SELECT 1 FROM access_points WHERE ssid IN ({marks_n}) "  # noqa: S608
             f"OR bssid IN ({marks_b}) LIMIT 1")
        facility_aps = conn.execute(q, (*names, *bssids)).fetchone() is not None
    surveyed = conn.execute(
        "SELECT 1 FROM surveys s JOIN survey_samples x ON x.survey_id = s.id "
        "WHERE s.location = 'outside' AND (s.stopped_at IS NOT NULL OR s.ends_at < ?) LIMIT 1",
        (now,)).fetchone() is not None
    boundary = config.wifi.boundary_sensor and facility_aps
    agent_raw = conn.execute("SELECT value FROM meta WHERE key = 'agent'").fetchone()
    agent_recent = False
    if agent_raw:
        beat = json.loads(agent_raw[0]).get("heartbeat_at")
        if beat:
            seen = datetime.fromisoformat(beat).timestamp()
            agent_recent = now - seen < timedelta(days=7).total_seconds()
    monitoring = (conn.execute("SELECT 1 FROM stations LIMIT 1").fetchone() is not None
                  or conn.execute("SELECT 1 FROM access_points LIMIT 1").fetchone() is not None)
    cov = {
        "facility_aps": facility_aps,
        "leakage_measured": surveyed or boundary,
        "agent_recent": agent_recent,
        "monitoring": monitoring,
        "retention_set": config.storage.retention_days <= 365,
    }
    # what probe cycles of the last week measured (probe.website, probe.isolation, ...)
    for (keys,) in conn.execute("SELECT coverage FROM probe_runs WHERE finished_at >= ?",
                                (now - timedelta(days=7).total_seconds(),)):
        cov.update(dict.fromkeys(json.loads(keys), True))
    return cov


def list_attestations(conn: sqlite3.Connection, config: Config) -> list[dict[str, Any]]:
    from appliance.timeutil import iso

    out = []
    for r in conn.execute("SELECT * FROM attestations ORDER BY id"):
        ev = [{"name": e["name"], "sha256": e["sha256"], "size": e["size"],
               "hash_ok": verify_file(config, e["sha256"], fresh=True)} for e in conn.execute(
            "SELECT * FROM evidence WHERE attestation_id = ? ORDER BY id", (r["id"],))]
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
