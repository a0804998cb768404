"""The appliance-operation commands: compliance, attestations, surveys, exports, test alerts,
first boot and upgrades. Each parses nothing itself: appliance.cli hands it the arguments."""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Any

from appliance import scope as scope_rules
from appliance.cli.common import EXIT_ERROR, EXIT_OK, CliError, UsageError
from appliance.cli.common import open_store as _open_store
from appliance.cli.common import print_json as _print_json
from appliance.config import ENV_VAR, Config
from appliance.i18n import gettext


def cmd_attest(args: argparse.Namespace, config: Config) -> int:
    from appliance import attestations as att
    from appliance.guideline import catalog_for

    catalog = catalog_for(config)
    result = "not_applicable" if args.not_applicable else args.result
    check = args.check or ("*" if args.not_applicable else "")
    if not check:
        m = next((m for m in catalog.measures if m.id == args.measure), None)
        ids = [c["id"] for c in m.checks if c["kind"] == "attest"] if m else []
        if len(ids) != 1:
            raise CliError(f"say which check with --check ({', '.join(ids) or 'none'})")
        check = ids[0]
    valid = args.valid_days or att.default_valid_days(catalog, args.measure, check)
    try:
        stored = [(Path(f).name, *att.store_evidence(config, Path(f))) for f in args.evidence]
        with _open_store(config, args.db) as store:
            aid = store.write(lambda c: att.record(
                c, catalog, args.measure, check, result, args.by, args.note, valid, stored))
            doc = next(a for a in store.read_with(
                lambda c: att.list_attestations(c, config)) if a["id"] == aid)
    except att.AttestError as exc:
        raise CliError(str(exc)) from exc
    if args.json:
        _print_json(doc)
    else:
        print(f"attestation {aid}: {args.measure} {check} {result}, valid until "
              f"{doc['expires_on']}, {len(stored)} evidence file(s)")
        if result == "pass" and not stored:
            print("note: without an evidence file (--evidence) the check stays unknown; "
                  "an attested check passes only with evidence")
    return EXIT_OK


def cmd_attestations(args: argparse.Namespace, config: Config) -> int:
    from appliance import attestations as att

    with _open_store(config, args.db) as store:
        rows = store.read_with(lambda c: att.list_attestations(c, config))
    bad = [e for a in rows for e in a["evidence"] if not e["hash_ok"]]
    if args.json:
        _print_json({"attestations": rows})
    else:
        for a in rows:
            print(f"#{a['id']} {a['measure']} {a['check']} {a['result']} by {a['by']} "
                  f"on {a['attested_on']} (until {a['expires_on']}): {a['note']}")
            for e in a["evidence"]:
                print(f"    {e['name']} sha256={e['sha256'][:16]}… "
                      f"{'ok' if e['hash_ok'] else 'MISSING OR CHANGED'}")
        if not rows:
            print("no attestations")
    return EXIT_ERROR if bad else EXIT_OK


def cmd_compliance(args: argparse.Namespace, config: Config) -> int:
    from datetime import date

    from appliance import attestations as att
    from appliance.compliance import evaluate
    from appliance.guideline import catalog_for

    catalog = catalog_for(config)
    try:
        today = date.fromisoformat(args.date) if args.date else date.today()
    except ValueError as exc:
        raise CliError(f"--date: {exc} (use YYYY-MM-DD)") from exc
    with _open_store(config, args.db) as store:
        doc = evaluate(catalog, store.read_with(
            lambda c: att.gather_facts(c, config, catalog, today)))
    if args.json:
        _print_json(doc)
        return EXIT_OK
    from appliance import wording

    lang = getattr(args, "lang", "ja")
    e, g = doc["estimate"], doc["grades"]
    level = e.get("confidence_level") or wording.confidence_level(float(e["confidence"]))
    conf = f"{wording.CONFIDENCE_WORD[lang]} {wording.confidence(level, lang)}"
    title = "title_en" if lang == "en" else "title_ja"
    axes = " / ".join(f"{a.get(title) or a['title_ja']} {g[a['id']]}" for a in doc["axes"])
    if lang == "en":
        print(f"{e.get('label_en') or e['label_ja']}  ({axes}, {conf})")
        if e.get("why_no_range_en"):
            print(e["why_no_range_en"])
        print(e.get("disclaimer_en") or e["disclaimer_ja"])
    else:
        print(gettext("{label}  ({axes}, {confidence})", "ja", label=e["label_ja"], axes=axes,
                      confidence=conf))
        if e.get("why_no_range_ja"):
            print(e["why_no_range_ja"])
        print(e["disclaimer_ja"])
    for m in doc["measures"]:
        word = wording.verdict(m["verdict"], lang)
        pad = 16 - sum(2 if ord(ch) > 0x2E7F else 1 for ch in word)  # full-width is 2 columns
        print(f"  {wording.measure_label(m['measure'])} {word}{' ' * max(1, pad)}"
              f"{m.get(title) or m['title_ja']}")
        for c in m["checks"]:
            if c["state"] not in ("pass", "not_applicable"):
                why = c.get("reason") if lang == "en" else c.get("reason_ja")
                print(f"      {c['check']}: {wording.verdict(c['state'], lang)} — {why}")
    for r in doc["reminders"]:
        if lang == "en":
            print(f"reminder: {r['measure']} {r['check']} expires on {r['expires_on']}")
        else:
            print(gettext("reminder: {measure} {check} expires on {date}", "ja",
                          measure=wording.measure_label(r["measure"]), check=r["check"],
                          date=r["expires_on"]))
    return EXIT_OK


def cmd_export(args: argparse.Namespace, config: Config) -> int:
    from agent.health import EARLIEST_SANE
    from appliance import export as ex

    if time.time() < EARLIEST_SANE:
        raise CliError("the clock is not set (no NTP yet?): an export now would carry wrong "
                       "dates; try again once the time is right")
    try:
        period = ex.parse_period(args.period, getattr(args, "from"), args.to)
    except ex.ExportError as exc:
        raise UsageError(str(exc)) from exc
    try:
        formats = [f.strip() for f in args.formats.split(",") if f.strip()]
        with _open_store(config, args.db) as store:
            done = ex.run_export(store, config, period, Path(args.out) if args.out else None,
                                 formats, send_email=True if args.email else None)
        folder, doc, digest, removed, mailed = (done.folder, done.summary, done.digest,
                                                done.removed, done.email)
    except ex.ExportError as exc:
        raise CliError(str(exc)) from exc
    except OSError as exc:
        raise CliError(f"cannot write the export: {exc}") from exc
    result = {"folder": str(folder), "period": period.label, "manifest_sha256": digest,
              "signing_key_sha256": doc["signing_key_sha256"],
              "files": sorted(p.name for p in folder.iterdir()), "removed": removed,
              "email": mailed,
              "estimate": doc["compliance"]["estimate"]}
    if args.json:
        _print_json(result)
    else:
        print(f"export {period.label} written to {folder}")
        print(f"signing key sha256 {doc['signing_key_sha256']}")
    return EXIT_OK


def cmd_verify_export(args: argparse.Namespace, config: Config) -> int:
    from appliance import signing

    folder = Path(args.dir)
    if not folder.is_dir():
        raise CliError(f"{folder}: not a folder")
    problems = signing.verify_folder(folder, Path(args.public_key) if args.public_key else None)
    fp = None
    try:
        from cryptography.hazmat.primitives import serialization

        pem = (Path(args.public_key) if args.public_key else folder / signing.PUBLIC_KEY)
        fp = signing.fingerprint(serialization.load_pem_public_key(pem.read_bytes()))  # type: ignore[arg-type]
    except Exception:  # noqa: BLE001 - a crafted key file: the problems list names it
        fp = None
    pinned = bool(args.public_key)
    if args.json:
        _print_json({"folder": str(folder), "ok": not problems, "problems": problems,
                     "signing_key_sha256": fp, "key_pinned": pinned})
    elif problems:
        print(f"{folder}: NOT intact")
        for p in problems:
            print(f"  {p}")
    else:
        print(f"{folder}: intact, signed by key sha256 {fp}")
        if not pinned:
            # the folder's own key proves only that nothing changed after signing: anyone can
            # re-sign a forged export with a key of their own
            print("  the key was NOT pinned: this proves only that nothing changed after "
                  "signing. Compare the fingerprint above with the one on the appliance's "
                  "Exports page or in an earlier report, or pass --public-key PEM.")
    return EXIT_ERROR if problems else EXIT_OK


def cmd_upgrade(args: argparse.Namespace, config: Config) -> int:
    from appliance import upgrade as up

    base = Path(args.base)
    db = config.db_path.resolve()
    since = time.time()
    restart = None if args.no_restart else up.systemd_restart
    healthy = (lambda: True) if args.no_restart else up.heartbeat_after(
        db, since, args.health_timeout)
    cfg_file = Path(args.config or os.environ.get(ENV_VAR) or "")
    try:
        res = up.upgrade(base, Path(args.source), db, cfg_file if cfg_file.name else None,
                         healthy, restart, offline=args.offline)
    except up.UpgradeError as exc:
        raise CliError(str(exc)) from exc
    doc = {"ok": res.ok, "previous": res.previous, "current": res.current,
           "rolled_back": res.rolled_back, "detail": res.detail}
    if args.json:
        _print_json(doc)
    else:
        print(("upgraded to " if res.ok else "ROLLED BACK to ") + res.current + f" ({res.detail})")
    return EXIT_OK if res.ok else EXIT_ERROR


def cmd_firstboot(args: argparse.Namespace, config: Config) -> int:
    from appliance import firstboot

    try:
        summary = firstboot.run(Path(args.root), force=args.force)
    except firstboot.FirstBootError as exc:
        raise CliError(str(exc)) from exc
    except PermissionError as exc:
        raise CliError(f"first boot needs root: {exc}") from exc
    console = summary.pop("console")
    if args.json:
        _print_json(summary)
    else:
        print(console)
    for tty in ("/dev/console",) if args.root == "/" else ():
        try:
            with open(tty, "w") as f:  # the journal has it too, via stdout
                f.write(console)
        except OSError:
            pass
    return EXIT_OK



def cmd_alert_test(args: argparse.Namespace, config: Config) -> int:
    from agent.mqtt import MqttError, send_test_alert

    try:
        with _open_store(config, args.db) as store:
            doc = send_test_alert(config, store, args.by)
    except MqttError as exc:
        raise CliError(str(exc)) from exc
    if args.json:
        _print_json(doc)
    elif doc["error"]:
        print(f"test alert NOT delivered: {doc['error']}")
    else:
        print(f"test alert {doc['alert_id']} delivered to {doc['broker']} "
              f"({doc['topic']}) at {doc['delivered_at']}")
    return EXIT_ERROR if doc["error"] else EXIT_OK





def cmd_survey(args: argparse.Namespace, config: Config) -> int:
    from agent import survey

    with _open_store(config, args.db) as store:
        if args.action == "start":
            if not args.label:
                raise CliError("survey start needs a label, e.g. \"street side, 2F window\"")
            if not config.facility.ssids:
                raise CliError("a survey measures the facility's own Wi-Fi: list its SSIDs in "
                               "[[facility.ssids]] first")
            sid = store.write(lambda c: survey.start(
                c, args.label, config.wifi.leakage_threshold_dbm, args.location, args.seconds))
            doc: Any = {"id": sid, "label": args.label, "location": args.location,
                        "seconds": args.seconds}
            msg = (f"survey {sid} started: {args.label} ({args.location}); the running agent "
                   "records signal until it is stopped" + (
                       f" or {args.seconds:g} s pass" if args.seconds else ""))
        elif args.action == "stop":
            n = store.write(lambda c: survey.stop(c, args.id))
            doc, msg = {"stopped": n}, f"{n} survey(s) stopped"
        else:
            doc = {"surveys": store.read_with(survey.summary)}
            msg = "\n".join(
                f"#{s['id']} {s['label']} [{s['location']}] {s['started_at']}: "
                + ", ".join(f"{b['ssid']} {b['bssid']} {b['rssi_dbm']['mean']} dBm"
                            + (" LEAKS" if b["leaks"] else "") for b in s["bssids"])
                for s in doc["surveys"]) or "no surveys"
    if args.json:
        _print_json(doc)
    else:
        print(msg)
    return EXIT_OK



def _emit(args: argparse.Namespace, doc: Any, msg: str) -> int:
    """One JSON document with --json, else the human sentence."""
    if args.json:
        _print_json(doc)
    else:
        print(msg)
    return EXIT_OK


def cmd_probe(args: argparse.Namespace, config: Config) -> int:
    from agent.probe import jobs
    from agent.probe.scope import OutOfScope

    scope = [s for chunk in args.scope for s in chunk.split(",") if s.strip()] \
        if args.scope else None
    if scope is not None:
        if not scope:
            raise UsageError("--scope: no network given")
        # the same validation as [probe] scope in the config: never a broadcast, multicast or
        # too wide range; a public one only with probe.allow_public_scope
        try:
            scope = scope_rules.validate(scope, config.probe.allow_public_scope)
        except scope_rules.ScopeError as exc:
            raise UsageError(f"--scope: {exc}") from exc
    websites = list(args.website) if args.website else None
    selected = tuple(j for j in (args.jobs.split(",") if args.jobs else jobs.JOBS))
    unknown = [j for j in selected if j not in jobs.JOBS]
    if unknown:
        raise CliError(f"unknown job {unknown[0]!r} ({', '.join(jobs.JOBS)})")
    if not (scope or config.probe.scope):
        raise CliError("the probe scope is empty: nothing is probed until [probe] scope lists "
                       "the facility's networks, or give --scope CIDR for this run")
    with _open_store(config, args.db) as store:
        try:
            plan = jobs.build_plan(config, store, scope, websites, selected)
        except OutOfScope as exc:
            raise CliError(str(exc)) from exc
        doc, _ = jobs.run_once(config, store, plan, save=not args.no_record)
    if args.json:
        _print_json(doc)
        return EXIT_OK
    for h in doc["hosts"]:
        d = h["device"]
        print(f"{h['ip']:<16} {h['mac'] or '-':<18} {d['class']:<8} "
              f"{' '.join(x for x in (d['vendor'], d['model'], d['firmware']) if x) or '-'}")
        for p in h["ports"]:
            print(f"    {p['port']:>5}/{p['proto']:<4} {p['service']:<12} "
                  f"{' '.join(x for x in (p['product'], p['version']) if x)}")
    for c in doc["checks"]:
        print(f"[{c['result']:<7}] {c['measure']} {c['check']:<20} {c['subject']}")
    for r in doc["refused"]:
        print(f"refused: {r}")
    for e in doc["errors"]:
        print(f"error: {e}")
    print(f"{len(doc['hosts'])} hosts, {len(doc['findings'])} findings, "
          f"{doc['duration_s']:.1f} s")
    return EXIT_OK


def cmd_baseline(args: argparse.Namespace, config: Config) -> int:
    from agent.probe import record

    with _open_store(config, args.db) as store:
        if args.action == "approve":
            if not args.ip:
                raise CliError("baseline approve needs the device's address")
            try:
                n = store.write(lambda c: record.approve(c, args.ip, args.by, time.time()))
            except ValueError as exc:
                raise CliError(str(exc)) from exc
            doc: Any = {"ip": args.ip, "approved": n}
            msg = f"{n} service(s) of {args.ip} approved as its baseline"
        else:
            doc = {"baseline": store.read_with(record.baseline)}
            msg = "\n".join(f"{ip}: " + ", ".join(f"{p['port']}/{p['proto']}" for p in ps)
                            for ip, ps in doc["baseline"].items()) or "no baseline approved"
    return _emit(args, doc, msg)


def _fetch(source: str, limit: int = 20_000_000) -> bytes:
    if source.startswith(("http://", "https://")):
        import urllib.request

        with urllib.request.urlopen(source, timeout=30) as r:  # noqa: S310  (http(s) only)
            return bytes(r.read(limit))
    try:
        return Path(source).read_bytes()[:limit]
    except OSError as exc:
        raise CliError(f"{source}: {exc.strerror or exc}") from exc


def cmd_advisories(args: argparse.Namespace, config: Config) -> int:
    from agent.probe import firmware, record

    with _open_store(config, args.db) as store:
        if args.action == "import":
            source = args.source or config.probe.advisories_url
            if not source:
                raise CliError("give a MyJVN feed file or URL (or set probe.advisories_url)")
            try:
                advs = firmware.parse_jvn(_fetch(source))
            except (firmware.CatalogError, OSError) as exc:
                raise CliError(f"{source}: {exc}") from exc
            n = store.write(lambda c: record.import_advisories(c, advs, time.time()))
            doc: Any = {"imported": n, "source": source}
            msg = f"{n} advisories imported from {source}"
        else:
            doc = {"advisories": store.read_with(record.load_advisories)}
            msg = "\n".join(f"{a['id']} {a['cvss'] or '-'} {a['title']}"
                            for a in doc["advisories"]) or "no advisories imported"
    return _emit(args, doc, msg)


def cmd_firmware(args: argparse.Namespace, config: Config) -> int:
    import json

    from agent.probe import firmware

    if args.action == "import":
        if not args.source:
            raise CliError("firmware import needs a catalog file or URL")
        raw = _fetch(args.source)
        try:
            as_of, entries = firmware.parse_catalog(json.loads(raw))
        except (ValueError, firmware.CatalogError) as exc:
            raise CliError(f"{args.source}: not a usable catalog: {exc}") from exc
        dest = config.data_dir / "firmware-catalog.json"
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_suffix(".tmp")
        tmp.write_bytes(raw)
        os.replace(tmp, dest)
        doc: Any = {"as_of": as_of, "entries": len(entries), "path": str(dest)}
        msg = f"catalog of {as_of or 'unknown date'} with {len(entries)} entries installed"
    else:
        as_of, entries = firmware.load_catalog(config.data_dir)
        doc = {"as_of": as_of, "entries": [e.__dict__ if hasattr(e, "__dict__") else
                                           {f: getattr(e, f) for f in e.__slots__}
                                           for e in entries]}
        msg = "\n".join(f"{e.id:<16} {e.kind:<8} min_safe={e.min_safe or '-'} "
                        f"latest={e.latest or '-'} eos={e.end_of_support or '-'}"
                        for e in entries)
    return _emit(args, doc, msg)
