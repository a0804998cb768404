"""Inspector exports: one folder per period with a report (HTML, PDF), CSV, JSON and a signed
manifest. Laid out by the guideline (six categories, measure numbers, 基本/応用); client MACs
pseudonymised; every file listed with its SHA-256 and signed with the appliance's Ed25519 key.
"""

from __future__ import annotations

import calendar
import csv
import hashlib
import hmac
import json
import re
import secrets
import shutil
import socket
import sqlite3
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from appliance import signing, timeutil, topics
from appliance.attestations import gather_facts, list_attestations
from appliance.compliance import evaluate
from appliance.config import Config
from appliance.display import display_safe
from appliance.guideline import Catalog
from appliance.i18n import N_, both, gettext
from appliance.store import Store, meta, observations
from appliance.store import aps as aps_q
from appliance.store import exports as exports_q
from appliance.store import findings as findings_q
from appliance.store import probes as probes_q
from appliance.store import surveys as surveys_q
from appliance.timeutil import iso

FORMATS = ("html", "pdf", "csv", "json")
SCHEMA_VERSION = 1
_MAC = re.compile(r"\b[0-9a-f]{2}(?P<sep>[:-])[0-9a-f]{2}(?:(?P=sep)[0-9a-f]{2}){4}\b",
                  re.IGNORECASE)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class ExportError(Exception):
    pass


@dataclass(frozen=True)
class Period:
    label: str
    start: date  # first day
    end: date  # last day (inclusive)

    @property
    def start_ts(self) -> float:
        return datetime(self.start.year, self.start.month, self.start.day).timestamp()

    @property
    def end_ts(self) -> float:
        nxt = self.end + timedelta(days=1)
        return datetime(nxt.year, nxt.month, nxt.day).timestamp()


def parse_period(month: str | None, start: str | None, end: str | None,
                 today: date | None = None) -> Period:
    today = today or date.today()
    if month and (start or end):
        raise ExportError("use either --period or --from/--to")
    try:
        if start or end:
            if not (start and end):
                raise ExportError("--from and --to go together")
            a, b = date.fromisoformat(start), date.fromisoformat(end)
            if b < a:
                raise ExportError("--to is before --from")
            period = Period(f"{a.isoformat()}_{b.isoformat()}", a, b)
            _not_future(period, today)
            return period
        if month:
            y, m = (int(x) for x in month.split("-"))
        else:  # the previous calendar month
            first = today.replace(day=1) - timedelta(days=1)
            y, m = first.year, first.month
        last = calendar.monthrange(y, m)[1]
        period = Period(f"{y:04d}-{m:02d}", date(y, m, 1), date(y, m, last))
    except ValueError as exc:
        raise ExportError(f"not a period: {exc} (use YYYY-MM or YYYY-MM-DD)") from exc
    _not_future(period, today)
    return period


def _not_future(period: Period, today: date) -> None:
    """A period that has not begun has nothing to report: a signed export of it would be an
    empty record an inspector could mistake for a clean one."""
    if period.start > today:
        raise ExportError(f"{period.label} has not begun yet (today is {today.isoformat()}): "
                          "an export covers what was recorded")


def neutralise(value: Any) -> Any:
    """A cell a spreadsheet will not run: text starting with = + - @ tab or CR gets a leading
    apostrophe (OWASP's advice). Numbers stay numbers."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    # UTF-8 with BOM: Excel in Japan opens it as UTF-8 instead of Shift_JIS
    with path.open("w", encoding="utf-8-sig", newline="") as f:
        w = csv.writer(f, quoting=csv.QUOTE_MINIMAL)
        w.writerow(header)
        for r in rows:
            w.writerow(["" if v is None else neutralise(display_safe(v) if isinstance(v, str)
                                                         else v) for v in r])


class Pseudonymiser:
    """Keyed hashes for client MACs: stable within one export, unlinkable across exports (the
    key is random per export and not kept)."""

    def __init__(self, keep: set[str], enabled: bool = True) -> None:
        self.key = secrets.token_bytes(32)
        self.keep = {k.lower() for k in keep}
        self.enabled = enabled
        self.count = 0
        self._seen: dict[str, str] = {}

    def mac(self, mac: str) -> str:
        m = mac.lower().replace("-", ":")
        if not self.enabled or m in self.keep:
            return mac
        p = self._seen.get(m)
        if p is None:
            p = "client-" + hmac.new(self.key, m.encode(), hashlib.sha256).hexdigest()[:12]
            self._seen[m] = p
            self.count += 1
        return p

    def text(self, s: str) -> str:
        return _MAC.sub(lambda mo: self.mac(mo.group(0)), s)

    def deep(self, v: Any) -> Any:
        if isinstance(v, str):
            return self.text(v)
        if isinstance(v, list):
            return [self.deep(x) for x in v]
        if isinstance(v, dict):
            return {self.text(k) if isinstance(k, str) else k: self.deep(x)
                    for k, x in v.items()}
        if isinstance(v, tuple):
            return [self.deep(x) for x in v]
        return v


appliance_id = meta.appliance_id  # the old name


def gather(conn: sqlite3.Connection, config: Config, catalog: Catalog, period: Period,
           pseudo: Pseudonymiser, today: date | None = None) -> dict[str, Any]:
    """Everything the report, the CSV and the JSON say, from one read transaction."""
    today = today or date.today()
    as_of = min(period.end, today)
    t0, t1 = period.start_ts, period.end_ts
    compliance = evaluate(catalog, gather_facts(conn, config, catalog, as_of))
    findings = []
    for r in findings_q.in_period(conn, t0, t1):
        hist = findings_q.history(conn, r["id"])
        opened = [h["ts"] for h in hist
                  if h["change"] in ("new", "reopened") and t0 <= h["ts"] < t1]
        closed = [h["ts"] for h in hist if h["change"] == "resolved" and t0 <= h["ts"] < t1]
        ttr = None
        if closed:
            start = max((h["ts"] for h in hist if h["change"] in ("new", "reopened")
                         and h["ts"] <= closed[-1]), default=r["first_seen"])
            ttr = round((closed[-1] - start) / 3600, 2)
        findings.append({
            "id": r["id"], "rule": r["rule"], "measure": r["measure"], "severity": r["severity"],
            "subject": pseudo.text(r["subject"]), "status": r["status"],
            "title_ja": r["title_ja"], "title_en": r["title_en"],
            "first_seen": iso(r["first_seen"]), "last_seen": iso(r["last_seen"]),
            "count": r["count"], "opened_in_period": len(opened),
            "closed_in_period": len(closed), "hours_to_resolve": ttr,
            "evidence": pseudo.deep(json.loads(r["evidence"]))})
    aps = [{
        "bssid": r["bssid"], "ssid": r["ssid"], "ssid_hex": r["ssid_hex"],
        "hidden": bool(r["hidden"]), "channel": r["channel"], "band": r["band"],
        "security": r["security"], "pmf": r["pmf"], "wps": json.loads(r["wps"]) if r["wps"]
        else None, "vendor": r["vendor"],
        "rssi_mean_dbm": round(r["rssi_sum"] / r["rssi_n"], 1) if r["rssi_n"] else None,
        "beacons": r["beacons"], "first_seen": iso(r["first_seen"]),
        "last_seen": iso(r["last_seen"])}
        for r in aps_q.in_period(conn, t0, t1)]
    fw_status = probes_q.firmware_statuses(conn)
    devices = [{
        "ip": r["ip"], "mac": pseudo.mac(r["mac"]), "vendor": r["vendor"],
        "randomized": bool(r["randomized"]), "first_seen": iso(r["first_seen"]),
        "last_seen": iso(r["last_seen"]), "frames": r["frames"],
        "firmware_status": fw_status.get(r["ip"], "unknown (no probe data)")}
        for r in observations.stations_in_period(conn, t0, t1)]
    probe_runs = [{
        "started_at": iso(r["started_at"]), "finished_at": iso(r["finished_at"]),
        "jobs": json.loads(r["jobs"]), "hosts": r["hosts"], "open_ports": r["open_ports"],
        "checks": len(json.loads(r["checks"])),
        "failed": sum(1 for c in json.loads(r["checks"]) if c["result"] == "fail"),
        "refused": len(json.loads(r["refused"]))}
        for r in probes_q.runs_started_in(conn, t0, t1)]
    surveys = surveys_q.started_in(conn, t0, t1)
    for s in surveys:
        s["started_at"] = iso(s["started_at"])
        s["bssids"] = [{"bssid": x["bssid"], "ssid": x["ssid"], "samples": x["n"],
                        "rssi_mean_dbm": round(x["sum"] / x["n"], 1) if x["n"] else None}
                       for x in surveys_q.samples(conn, s["id"])]
    daily: dict[str, dict[str, int]] = {}
    for ts, sev in findings_q.openings(conn, t0, t1):
        day = timeutil.day(ts)
        daily.setdefault(day, {}).setdefault(sev, 0)
        daily[day][sev] += 1
    attest = [a for a in list_attestations(conn, config)]
    tests = findings_q.alert_tests(conn, since=t0, until=t1)
    for t in tests:
        t["requested_at"], t["delivered_at"] = iso(t["requested_at"]), iso(t["delivered_at"])
    doc: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "facility": {"id": config.facility.id, "name": config.facility.name},
        "appliance_id": appliance_id(conn),
        "period": {"label": period.label, "from": period.start.isoformat(),
                   "to": period.end.isoformat()},
        "as_of": as_of.isoformat(),
        "generated_at": iso(time.time()),
        "framework_title_ja": catalog.title_ja,
        "framework_title_en": catalog.title_en,
        "timezone": config.web.timezone,  # the zone the printed report writes times in
        "compliance": compliance,
        "findings": findings,
        "findings_per_day": daily,
        "access_points": aps,
        "devices": devices,
        "probe_runs": probe_runs,
        "surveys": surveys,
        "attestations": attest,
        "alert_tests": tests,
    }
    # privacy by construction: the whole document goes through the one pseudonymisation step,
    # so a section added later (or a MAC inside a note or a compliance detail) cannot leak
    doc = pseudo.deep(doc)
    doc["privacy"] = {
        "pseudonymised": pseudo.enabled,
        "pseudonymised_macs": pseudo.count,
        **dict(zip(("note_ja", "note_en"), both(
            "Client device MACs are personal data (APPI) and are replaced by keyed hashes "
            "(client-…) that are stable within this export only; access points and gateways "
            "are facility infrastructure and shown in full."), strict=True)),
    }
    return doc


def _csv_files(folder: Path, doc: dict[str, Any]) -> None:
    write_csv(folder / "measures.csv",
              ["measure", "category", "title_ja", "title_en", "level", "inspection", "verdict",
               "findings", "remediation_ja"],
              ([m["measure"], m["category"], m["title_ja"], m["title_en"], m["level"],
                m["inspection"], m["verdict"], len(m["findings"]), m["remediation_ja"]]
               for m in doc["compliance"]["measures"]))
    write_csv(folder / "findings.csv",
              ["id", "measure", "rule", "severity", "status", "subject", "title_ja", "title_en",
               "first_seen", "last_seen", "count", "opened_in_period", "closed_in_period",
               "hours_to_resolve"],
              ([f["id"], f["measure"], f["rule"], f["severity"], f["status"], f["subject"],
                f["title_ja"], f["title_en"], f["first_seen"], f["last_seen"], f["count"],
                f["opened_in_period"], f["closed_in_period"], f["hours_to_resolve"]]
               for f in doc["findings"]))
    write_csv(folder / "access_points.csv",
              ["bssid", "ssid", "hidden", "channel", "band", "security", "pmf", "wps", "vendor",
               "rssi_mean_dbm", "beacons", "first_seen", "last_seen"],
              ([a["bssid"], a["ssid"], a["hidden"], a["channel"], a["band"], a["security"],
                a["pmf"], bool(a["wps"]), a["vendor"], a["rssi_mean_dbm"], a["beacons"],
                a["first_seen"], a["last_seen"]] for a in doc["access_points"]))
    write_csv(folder / "devices.csv",
              ["ip", "mac", "vendor", "randomized", "first_seen", "last_seen", "frames",
               "firmware_status"],
              ([d["ip"], d["mac"], d["vendor"], d["randomized"], d["first_seen"],
                d["last_seen"], d["frames"], d["firmware_status"]] for d in doc["devices"]))
    write_csv(folder / "probe_runs.csv",
              ["started_at", "finished_at", "jobs", "hosts", "open_ports", "checks", "failed",
               "refused"],
              ([r["started_at"], r["finished_at"], ",".join(r["jobs"]), r["hosts"],
                r["open_ports"], r["checks"], r["failed"], r["refused"]]
               for r in doc["probe_runs"]))


def _data_phase(db_path: str, config: Config, period: Period, tmp: str,
                formats: Sequence[str], today: date | None, key_sha256: str) -> None:
    """In a child process: gather, write JSON, CSV and the report's HTML. The child's memory
    is gone before the parent loads the PDF renderer, so the two never add up."""
    folder = Path(tmp)
    try:
        from appliance.guideline import catalog_for

        conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
        conn.row_factory = sqlite3.Row
        gateways = set(config.networks.gateways)
        keep = aps_q.bssids(conn) | observations.macs_of(conn, gateways)
        pseudo = Pseudonymiser(keep, config.exports.pseudonymise)
        doc = gather(conn, config, catalog_for(config), period, pseudo, today)
        conn.close()
        doc["signing_key_sha256"] = key_sha256
        doc["evidence_files"] = copy_evidence(config, doc["attestations"], folder,
                                              config.exports.evidence_max_mb * 2**20)
        if "json" in formats:
            with (folder / "export.json").open("w", encoding="utf-8") as f:
                json.dump(doc, f, ensure_ascii=False, indent=2, default=str)
        if "csv" in formats:
            _csv_files(folder, doc)
        if "html" in formats or "pdf" in formats:
            from appliance.report import render_html

            for lang in config.exports.languages:
                suffix = "" if lang == "ja" else f".{lang}"
                (folder / f"report{suffix}.html").write_text(render_html(doc, lang),
                                                            encoding="utf-8")
        (folder / ".summary.json").write_text(json.dumps({
            "signing_key_sha256": key_sha256, "appliance_id": doc["appliance_id"],
            "generated_at": doc["generated_at"],
            "compliance": {"estimate": doc["compliance"]["estimate"]}}, ensure_ascii=False))
    except BaseException as exc:  # reported to the parent through the folder
        (folder / ".error").write_text(f"{type(exc).__name__}: {exc}")
        raise


def copy_evidence(config: Config, attestations: list[dict[str, Any]], folder: Path,
                  cap_bytes: int) -> list[dict[str, Any]]:
    """Copy each evidence file whose hash still matches into the export folder (so the signed
    manifest lists and hashes it), newest attestation first, up to `cap_bytes` in total.
    Every file is listed, with why it is not included when it is not."""
    import re

    from appliance.attestations import _sha256, evidence_dir, verify_file

    out: list[dict[str, Any]] = []
    total = 0
    done: set[str] = set()
    for a in sorted(attestations, key=lambda x: -int(x["id"])):
        for ev in a["evidence"]:
            sha = str(ev["sha256"])
            ext = re.sub(r"[^A-Za-z0-9]", "", Path(str(ev["name"])).suffix)[:8]
            name = f"evidence-{a['measure']}-{sha[:16]}" + (f".{ext}" if ext else "")
            row = {"attestation_id": a["id"], "measure": a["measure"], "check": a["check"],
                   "name": ev["name"], "sha256": sha, "size": ev["size"], "file": "",
                   "included": False, "why": ""}
            if sha in done:
                row.update(file=name, included=True, why="same file as above")
            elif not verify_file(config, sha, fresh=True):
                row["why"] = "missing or changed on the appliance"
            elif total + int(ev["size"]) > cap_bytes:
                row["why"] = f"over the export's evidence cap ({cap_bytes // 2**20} MB)"
            else:
                shutil.copyfile(evidence_dir(config) / sha, folder / name)
                if _sha256(folder / name)[0] != sha:  # changed while it was copied
                    (folder / name).unlink()
                    row["why"] = "changed while the export was written"
                else:
                    total += int(ev["size"])
                    done.add(sha)
                    row.update(file=name, included=True)
            out.append(row)
    return out


def _pdf_phase(tmp: str, keep_html: bool) -> None:
    """In a child process (for a long-lived caller, the agent): render the PDFs, so the
    renderer's memory goes away with the child."""
    try:
        _render_pdfs(Path(tmp), keep_html)
    except BaseException as exc:  # reported to the parent through the folder
        (Path(tmp) / ".error").write_text(f"{type(exc).__name__}: {exc}")
        raise


def _render_pdfs(folder: Path, keep_html: bool) -> None:
    from appliance.report import render_pdf

    for html in sorted(folder.glob("report*.html")):
        render_pdf(html.read_text(encoding="utf-8"), html.with_suffix(".pdf"))
        if not keep_html:
            html.unlink()


def write_export(db_path: Path, config: Config, period: Period, out_dir: Path,
                 formats: Sequence[str] = FORMATS, today: date | None = None,
                 pdf_in_child: bool = False) -> tuple[Path, dict[str, Any], str]:
    """Write one export folder; returns (folder, a summary, the manifest's SHA-256).
    PDF_IN_CHILD renders the PDFs in a child process too (the agent's memory stays small)."""
    import multiprocessing

    bad = [f for f in formats if f not in FORMATS]
    if bad:
        raise ExportError(f"unknown format {', '.join(bad)} (choose from {', '.join(FORMATS)})")
    key = signing.load_or_create_key(config.data_dir)
    stamp = datetime.now().strftime("%Y%m%dT%H%M%S")
    folder = out_dir / f"officeguard-{config.facility.id}-{period.label}-{stamp}"
    tmp = out_dir / f".{folder.name}.partial"
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp.mkdir()
    try:
        child = multiprocessing.get_context("spawn").Process(
            target=_data_phase, name="officeguard-export-data",
            args=(str(db_path), config, period, str(tmp), list(formats), today,
                  signing.fingerprint(key)))
        child.start()
        child.join()
        if child.exitcode != 0:
            err = tmp / ".error"
            why = err.read_text() if err.exists() else f"exit code {child.exitcode}"
            raise ExportError(f"the export could not be written: {why}")
        summary = json.loads((tmp / ".summary.json").read_text(encoding="utf-8"))
        (tmp / ".summary.json").unlink()
        if "pdf" in formats and pdf_in_child:
            child = multiprocessing.get_context("spawn").Process(
                target=_pdf_phase, name="officeguard-export-pdf",
                args=(str(tmp), "html" in formats))
            child.start()
            child.join()
            if child.exitcode != 0:
                err = tmp / ".error"
                why = err.read_text() if err.exists() else f"exit code {child.exitcode}"
                raise ExportError(f"the report's PDF could not be written: {why}")
        elif "pdf" in formats:
            _render_pdfs(tmp, "html" in formats)
        digest = signing.sign_folder(tmp, key, {
            "facility": config.facility.id, "period": period.label,
            "appliance_id": summary["appliance_id"], "generated_at": summary["generated_at"],
            "host": socket.gethostname()})
        tmp.rename(folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder, summary, digest


def record_export(conn: sqlite3.Connection, period: Period, folder: Path, digest: str,
                  keep: int) -> list[str]:
    """Remember the export and remove the oldest beyond `keep`; returns removed folders."""
    exports_q.add(conn, period.label, period.start_ts, period.end_ts, str(folder), time.time(),
                  digest)
    removed = []
    for r in exports_q.kept(conn)[keep:]:
        shutil.rmtree(r["path"], ignore_errors=True)
        exports_q.mark_removed(conn, r["id"], time.time())
        removed.append(r["path"])
    return removed


@dataclass(frozen=True)
class ExportDone:
    folder: Path
    summary: dict[str, Any]
    digest: str
    removed: list[str]
    email: str | None


def run_export(store: Store, config: Config, period: Period, out_dir: Path | None = None,
               formats: Sequence[str] = FORMATS, send_email: bool | None = None,
               pdf_in_child: bool = False) -> ExportDone:
    """One whole export, as the command line and the agent's monthly job run it: write the
    signed folder, queue its MQTT notice, remember it (older ones beyond `exports.keep` are
    removed) and e-mail it (SEND_EMAIL None: when `exports.email_to` and `smtp_host` are set).
    Raises ExportError or OSError; nothing is recorded for a failed export. PDF_IN_CHILD: see
    write_export (the agent sets it)."""
    store.write(ensure_appliance_id)
    folder, summary, digest = write_export(store.path, config, period,
                                           (out_dir or config.exports_dir).resolve(), formats,
                                           pdf_in_child=pdf_in_child)

    def record(c: sqlite3.Connection) -> list[str]:
        notice(c, config, period, folder, digest)
        return record_export(c, period, folder, digest, config.exports.keep)

    removed = store.write(record)
    if send_email is None:
        send_email = bool(config.exports.email_to and config.exports.smtp_host)
    mailed = email(config, folder, period) if send_email else None
    return ExportDone(folder, summary, digest, removed, mailed)


ensure_appliance_id = meta.ensure_appliance_id  # the old name


def notice(conn: sqlite3.Connection, config: Config, period: Period, folder: Path,
           digest: str) -> None:
    """An outbox row (topic `exports`) telling staff the export is ready; the MQTT publisher
    sends it like an alert, in the transaction that records the export."""
    alert_id = str(uuid.uuid4())
    now = time.time()
    title_ja, title_en = both("Inspector export ready")
    message_ja, message_en = both("The inspector export for {period} is ready ({folder}).",
                                  period=period.label, folder=folder.name)
    payload = {"alert_id": alert_id, "change": "export", "time": iso(now), "severity": "info",
               "measure": "1-4", "period": period.label, "folder": folder.name,
               "manifest_sha256": digest, "subject": period.label,
               "title_ja": title_ja, "title_en": title_en,
               "message_ja": message_ja, "message_en": message_en}
    findings_q.enqueue(conn, alert_id, now, topics.EXPORTS,
                       json.dumps(payload, ensure_ascii=False))


def email(config: Config, folder: Path, period: Period) -> str:
    """Send the export (the PDF and the signed manifest, and the whole folder as a zip) to
    `exports.email_to` over SMTP with TLS. Returns a one-line result."""
    from email.message import EmailMessage

    c = config.exports
    if not (c.email_to and c.smtp_host):
        raise ExportError("e-mail needs exports.email_to and exports.smtp_host")
    msg = EmailMessage()
    msg["Subject"] = "[OfficeGuard] " + gettext("Inspector export {facility} {period}", "ja",
                                                facility=config.facility.id, period=period.label)
    msg["From"] = c.email_from or f"officeguard@{socket.gethostname()}"
    msg["To"] = ", ".join(c.email_to)
    body = N_("The inspector export of {facility} for {period} is attached. Check that it was " \
        "not altered with: officeguard verify-export")
    msg.set_content(
        gettext(body, "ja", facility=config.facility.name or config.facility.id,
                period=period.label) + "\n\n"
        + gettext("Inspector export of {facility} for {period}, attached.", "en",
                  facility=config.facility.id, period=period.label) + "\n")
    archive = shutil.make_archive(str(folder.parent / f".{folder.name}"), "zip", folder)
    try:
        for name in ("report.pdf", signing.MANIFEST, signing.SIGNATURE, signing.PUBLIC_KEY):
            p = folder / name
            if p.exists():
                maintype, subtype = (("application", "pdf") if name.endswith(".pdf")
                                     else ("application", "octet-stream"))
                msg.add_attachment(p.read_bytes(), maintype=maintype, subtype=subtype,
                                   filename=name)
        msg.add_attachment(Path(archive).read_bytes(), maintype="application", subtype="zip",
                           filename=f"{folder.name}.zip")
    finally:
        Path(archive).unlink(missing_ok=True)
    send_mail(config, msg)
    return f"sent to {', '.join(c.email_to)}"


def send_mail(config: Config, msg: Any) -> None:
    """Send MSG to `exports.email_to` over SMTP with TLS (implicit, or STARTTLS that must
    succeed: nothing goes out in clear text). Raises ExportError with the reason."""
    import smtplib
    import ssl

    c = config.exports
    if not (c.email_to and c.smtp_host):
        raise ExportError("e-mail needs exports.email_to and exports.smtp_host")
    ctx = ssl.create_default_context(cafile=c.smtp_ca_file or None)
    password = None
    if c.smtp_password_file:
        from appliance.config import ConfigError, read_secret

        try:
            password = read_secret(Path(c.smtp_password_file), "exports.smtp_password_file")
        except ConfigError as exc:
            raise ExportError(str(exc)) from exc
    try:
        smtp: smtplib.SMTP
        if c.smtp_tls == "tls":
            smtp = smtplib.SMTP_SSL(c.smtp_host, c.smtp_port, context=ctx, timeout=30)
        else:
            smtp = smtplib.SMTP(c.smtp_host, c.smtp_port, timeout=30)
            smtp.starttls(context=ctx)  # never sends the export in clear text
        with smtp:
            if c.smtp_username:
                smtp.login(c.smtp_username, password or "")
            smtp.send_message(msg)
    except (OSError, smtplib.SMTPException, ssl.SSLError) as exc:
        raise ExportError(f"e-mail to {', '.join(c.email_to)} failed: {exc}") from exc


def notice_email(config: Config, notices: list[dict[str, Any]]) -> str:
    """One e-mail listing NOTICES (evidence about to expire), Japanese first, to the inspector
    and staff addresses of `exports.email_to`. Returns a one-line result."""
    from email.message import EmailMessage

    c = config.exports
    msg = EmailMessage()
    msg["Subject"] = "[OfficeGuard] " + gettext("Evidence expires soon: {facility} ({n})",
                                                "ja", facility=config.facility.id,
                                                n=len(notices))
    msg["From"] = c.email_from or f"officeguard@{socket.gethostname()}"
    msg["To"] = ", ".join(c.email_to)
    lines = [gettext("{facility}: this evidence expires soon. Upload new evidence (the "
                     "dashboard's measure page, or officeguard attest).", "ja",
                     facility=config.facility.name or config.facility.id), ""]
    item = N_("- {measure} {check}: until {date}")
    lines += [gettext(item, "ja", measure=n["measure"], check=n["check"], date=n["expires_on"])
              for n in notices]
    lines += ["", gettext("Evidence expiring soon; upload new evidence:", "en"), ""]
    lines += [gettext(item, "en", measure=n["measure"], check=n["check"], date=n["expires_on"])
              for n in notices]
    msg.set_content("\n".join(lines) + "\n")
    send_mail(config, msg)
    return f"sent to {', '.join(c.email_to)}"
