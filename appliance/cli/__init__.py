"""The `officeguard` command: parse, call one core function, print. `--json` prints one document.

This is the one place where the rooms are wired together, so it imports `agent` and `web`
lazily inside the commands; the rest of `appliance` imports neither.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from appliance import __version__
from appliance.cli.common import EXIT_ERROR, EXIT_OK, EXIT_USAGE, CliError, UsageError
from appliance.cli.common import open_store as _open_store
from appliance.cli.common import print_json as _print_json
from appliance.cli.ops import (
    cmd_advisories,
    cmd_alert_test,
    cmd_attest,
    cmd_attestations,
    cmd_baseline,
    cmd_compliance,
    cmd_export,
    cmd_firmware,
    cmd_firstboot,
    cmd_probe,
    cmd_survey,
    cmd_upgrade,
    cmd_verify_export,
)
from appliance.config import ENV_VAR, Config, ConfigError, load
from appliance.guideline import CatalogError
from appliance.store import StoreError

log = logging.getLogger("officeguard")


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


# -- commands ---------------------------------------------------------------------------------

def cmd_validate_config(args: argparse.Namespace, config: Config) -> int:
    if args.json:
        _print_json({"valid": True, "file": args.file, "config": config.model_dump()})
    else:
        print(f"{args.file}: valid")
    return EXIT_OK


def cmd_guideline(args: argparse.Namespace, config: Config) -> int:
    from appliance.guideline import catalog_for

    cat = catalog_for(config)
    if args.json:
        _print_json({
            "framework": cat.framework_id,
            "title_ja": cat.title_ja,
            "title_en": cat.title_en,
            "categories": [
                {"id": c.id, "title_ja": c.title_ja, "title_en": c.title_en,
                 "inspection": c.inspection} for c in cat.categories
            ],
            "measures": [m.to_json() for m in cat.measures],
        })
        return EXIT_OK
    print(cat.title_ja)
    for c in cat.categories:
        print(f"\n{c.id}. {c.title_ja} / {c.title_en} [{c.inspection}]")
        for m in (m for m in cat.measures if m.category == c.id):
            print(f"  {m.id} {m.number} {m.title_ja} — {m.title_en} ({m.level}, {m.monitor})")
    return EXIT_OK




def _capture_problem(name: str) -> str:
    """Why NAME cannot be read as a capture file, in words ("" when it can)."""
    import stat

    try:
        mode = os.stat(name).st_mode
    except FileNotFoundError:
        return f"no such capture file: {name}"
    except OSError as exc:
        return f"{name}: {exc.strerror}"
    if stat.S_ISDIR(mode):
        return f"{name} is a directory, not a capture file"
    if not stat.S_ISREG(mode):
        kind = ("a FIFO" if stat.S_ISFIFO(mode) else "a device" if stat.S_ISCHR(mode) or
                stat.S_ISBLK(mode) else "a socket" if stat.S_ISSOCK(mode) else "special")
        return f"{name} is not a regular file ({kind}); give a pcap or pcapng file"
    return ""


@contextlib.contextmanager
def _batch_gc() -> Iterator[None]:
    """The cycle collector set for a batch run whose objects (APs, events) live until it ends:
    its passes over them find next to nothing (about 900 objects in a 500,000-frame ingest) and
    cost 5 % of the run (bench_wifi). The objects made before it (modules, settings) are set
    aside, and it runs after 50,000 new objects instead of 700; as before afterwards (a caller
    that froze objects itself keeps them frozen)."""
    before = gc.get_threshold()
    mine = gc.get_freeze_count() == 0
    if mine:
        gc.freeze()
    gc.set_threshold(50_000, 20, 10)
    try:
        yield
    finally:
        gc.set_threshold(*before)
        if mine:
            gc.unfreeze()


def cmd_ingest(args: argparse.Namespace, config: Config) -> int:
    from agent.ingest import ingest_files, write_json

    problems = [p for p in (_capture_problem(f) for f in args.files) if p]
    if problems:
        raise CliError("; ".join(problems))
    if args.survey is not None and not config.facility.ssids:
        raise CliError("--survey measures the facility's own Wi-Fi: list its SSIDs in "
                       "[[facility.ssids]] first")
    with _batch_gc(), _open_store(config, args.db) as store:
        doc = ingest_files(config, store, args.files, survey=args.survey,
                           survey_location=args.survey_location)
    if args.json:
        write_json(doc, sys.stdout)  # one line per AP record: thousands print in C
    else:
        print(f"{doc['frames']} frames, {doc['arp_frames']} ARP, "
              f"{len(doc['stations'])} stations, {len(doc['events'])} events, "
              f"{len(doc['findings'])} findings ({doc['seconds']} s)")
        for f in doc["findings"]:
            print(f"  [{f['severity']}] {f['measure']} {f['title_en']}: {f['subject']}")
    failed = [f for f in doc["files"] if f["error"]]
    if doc["store_error"] or failed:
        return EXIT_ERROR
    return EXIT_OK



def cmd_findings(args: argparse.Namespace, config: Config) -> int:
    from appliance.findings import finding_to_json
    from appliance.store import findings as q
    from appliance.store import open_readonly

    conn = open_readonly(args.db or config.db_path)
    try:
        rows = [finding_to_json(r) for r in q.listing(conn, args.status)]
    finally:
        conn.close()
    if args.json:
        _print_json({"findings": rows})
    else:
        if not rows:
            print("no findings")
        for f in rows:
            print(f"#{f['id']} [{f['severity']}] {f['status']} {f['measure']} "
                  f"{f['title_ja']} / {f['title_en']}: {f['subject']} (x{f['count']})")
    return EXIT_OK


def cmd_status(args: argparse.Namespace, config: Config) -> int:
    from appliance.status import StatusError, status_summary

    try:
        doc = status_summary(config, args.db)
    except StatusError as exc:
        raise CliError(str(exc)) from exc
    if args.json:
        _print_json(doc)
        return EXIT_OK
    print(f"facility: {config.facility.id} {config.facility.name}")
    print(f"database: {doc['database']}")
    agent = doc["agent"]
    if agent:
        print(f"agent: {'running' if agent.get('running') else 'stopped'}, "
              f"last heartbeat {agent.get('heartbeat_at')}")
        for s in agent.get("sensors", []):
            print(f"  {s['name']:6} {'active' if s['active'] else 'inactive'}: {s['detail']}")
        for name, j in (agent.get("jobs") or {}).items():  # the supervisor's failing jobs
            if j.get("errors"):
                print(f"  job {name}: {j['errors']} of {j['runs']} runs failed, "
                      f"{'still failing' if not j.get('ok') else 'works again'}; last error "
                      f"at {j.get('last_error_at')}: {j.get('last_error')}")
    else:
        print("agent: never started")
    print("counts: " + ", ".join(f"{k} {v}" for k, v in doc["counts"].items()))
    print("open findings: " + ", ".join(f"{k} {v}" for k, v in doc["open_findings"].items()))
    return EXIT_OK


def _install_stop(stop: threading.Event) -> None:
    def handler(signum: int, _frame: object) -> None:
        log.info("received %s, stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)


def _few_malloc_arenas() -> None:
    """glibc gives each thread its own malloc arena; a web server's worker threads then hold
    memory they no longer use. Two arenas keep the web process small (also set in the unit)."""
    import contextlib
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    if name:
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(name).mallopt(-8, 2)  # M_ARENA_MAX


def _web_kwargs(config: Config, insecure: bool) -> dict[str, Any]:
    """uvicorn's TLS arguments: the appliance's certificate unless plain HTTP was asked for."""
    if insecure:
        log.warning("THE DASHBOARD SERVES PLAIN HTTP (--insecure-http): passwords and session "
                    "cookies cross the network unencrypted. Use this for development only.")
        return {}
    from appliance.cli.webprep import tls_files

    cert, key = tls_files(config)
    return {"ssl_certfile": str(cert), "ssl_keyfile": str(key)}


def _web_limits(config: Config) -> dict[str, Any]:
    """uvicorn's own limits: forwarded headers only from configured proxies (never from
    loopback by default: anything on the box could then invent a client address), bounded
    connections, headers and idle time."""
    from web.limits import slow_client_protocol

    trusted = config.web.trusted_proxies
    # no connection ceiling (a few slow clients would lock the manager out with 503s): slow
    # clients are cut off by the protocol's deadlines instead; the unit's TasksMax and
    # MemoryMax bound the rest
    return {"proxy_headers": bool(trusted), "forwarded_allow_ips": ",".join(trusted) or "",
            "server_header": False, "timeout_keep_alive": 5, "http": slow_client_protocol(),
            "h11_max_incomplete_event_size": 32 * 1024}


def _start_web(config: Config, host: str | None, port: int | None, insecure: bool = False
               ) -> tuple[Any, threading.Thread]:
    import uvicorn

    from web.app import create_app

    server = uvicorn.Server(uvicorn.Config(
        create_app(config, secure_cookies=not insecure), host=host or config.web.host,
        port=port or config.web.port, log_level="warning", access_log=False,
        **_web_kwargs(config, insecure), **_web_limits(config)))
    t = threading.Thread(target=server.run, name="web", daemon=True)
    t.start()
    return server, t


def cmd_agent(args: argparse.Namespace, config: Config, with_web: bool = False) -> int:
    from agent.runner import Agent

    with _open_store(config) as store:
        agent = Agent(config, store, config_path=args.config or os.environ.get(ENV_VAR))
        _install_stop(agent.stop)
        server = None
        if with_web:
            insecure = bool(getattr(args, "insecure_http", False))
            server, _t = _start_web(config, None, None, insecure)
            log.info("dashboard on %s://%s:%d/", "http" if insecure else "https",
                     config.web.host, config.web.port)
        try:
            agent.run()
        finally:
            if server is not None:
                server.should_exit = True
    return EXIT_OK


def cmd_run(args: argparse.Namespace, config: Config) -> int:
    return cmd_agent(args, config, with_web=True)


def cmd_web(args: argparse.Namespace, config: Config) -> int:
    import uvicorn

    from web.app import create_app

    _few_malloc_arenas()
    insecure = bool(args.insecure_http)
    app = create_app(config, secure_cookies=not insecure)
    tls = _web_kwargs(config, insecure)
    fds = os.environ.get("LISTEN_FDS")
    if fds and os.environ.get("LISTEN_PID") == str(os.getpid()) and int(fds) >= 1:
        # socket activation: systemd bound the port and passed it as file descriptor 3
        uvicorn.run(app, fd=3, log_level="info", **tls, **_web_limits(config))
        return EXIT_OK
    uvicorn.run(app, host=args.host or config.web.host, port=args.port or config.web.port,
                log_level="info", **tls, **_web_limits(config))
    return EXIT_OK


# -- parser -----------------------------------------------------------------------------------

def _valid_days(text: str) -> int:
    from appliance.attestations import MAX_VALID_DAYS

    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number of days: {text!r}") from None
    if not 1 <= n <= MAX_VALID_DAYS:
        raise argparse.ArgumentTypeError(f"{n}: must be 1 to {MAX_VALID_DAYS} days")
    return n


def build_parser() -> argparse.ArgumentParser:
    def global_options(default: Any, verbose_default: Any) -> argparse.ArgumentParser:
        g = argparse.ArgumentParser(add_help=False)
        g.add_argument("--config", metavar="FILE", default=default,
                       help="TOML configuration (default: $OFFICEGUARD_CONFIG, else built-in)")
        g.add_argument("-v", "--verbose", action="store_true", default=verbose_default,
                       help="debug logging")
        return g

    # the global options work before or after the command: the subcommand's copy has no
    # default of its own (SUPPRESS), so it cannot overwrite what was given before the command
    top = global_options(None, False)
    common = global_options(argparse.SUPPRESS, argparse.SUPPRESS)
    js = argparse.ArgumentParser(add_help=False)
    js.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    dbp = argparse.ArgumentParser(add_help=False)
    dbp.add_argument("--db", metavar="PATH", help="database file (default: in storage.data_dir)")

    p = argparse.ArgumentParser(prog="officeguard", parents=[top],
                                description="Security monitor for shared offices.")
    p.add_argument("--version", action="version", version=f"officeguard {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, fn: Callable[..., int], help_: str, *parents: argparse.ArgumentParser
            ) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, parents=[common, *parents], help=help_, description=help_)
        sp.set_defaults(func=fn)
        return sp

    r = add("run", cmd_run, "run the appliance: agent and web service")
    r.add_argument("--insecure-http", action="store_true",
                   help="serve the dashboard over plain HTTP (development only)")
    add("agent", cmd_agent, "run the agent only (sensors, rules, store)")
    from appliance.cli.webprep import cmd_web_prepare

    add("web-prepare", cmd_web_prepare, "make the dashboard's certificate and public-key "
        "file before the web service starts (its unit's ExecStartPre=)")
    w = add("web", cmd_web, "run the web service only")
    w.add_argument("--host")
    w.add_argument("--port", type=int)
    w.add_argument("--insecure-http", action="store_true",
                   help="serve plain HTTP instead of HTTPS (development only, loudly logged)")
    i = add("ingest", cmd_ingest, "feed capture files through the sensors and rules", js, dbp)
    i.add_argument("files", nargs="+", metavar="FILE")
    i.add_argument("--survey", metavar="LABEL",
                   help="treat the capture as a leakage survey taken at LABEL")
    i.add_argument("--survey-location", choices=["outside", "inside"], default="outside")
    sv = add("survey", cmd_survey, "signal-leakage survey sessions (3-③)", js, dbp)
    sv.add_argument("action", choices=["start", "stop", "list"])
    sv.add_argument("label", nargs="?", help="where the measurement is taken (start)")
    sv.add_argument("--seconds", type=float, help="stop by itself after this long (start)")
    sv.add_argument("--location", choices=["outside", "inside"], default="outside")
    sv.add_argument("--id", type=int, help="the survey to stop (default: every running one)")
    f = add("findings", cmd_findings, "list findings", js, dbp)
    f.add_argument("--status", choices=["open", "acknowledged", "resolved", "reopened"])
    add("status", cmd_status, "agent, sensors and store summary", js, dbp)
    co = add("compliance", cmd_compliance,
             "per-measure verdicts, grades and the estimated certification level", js, dbp)
    co.add_argument("--date", metavar="YYYY-MM-DD", help="evaluate as of this day")
    co.add_argument("--lang", choices=("ja", "en"), default="ja",
                    help="words of the printed verdicts (default: ja; --json is unchanged)")
    at = add("attest", cmd_attest, "record an attestation with evidence for a measure", js, dbp)
    at.add_argument("measure", metavar="MEASURE", help="e.g. 1-1")
    at.add_argument("--check", help="the check attested (see `officeguard guideline --json`)")
    at.add_argument("--note", default="", help="what was checked; the reason when not applicable")
    at.add_argument("--evidence", nargs="*", default=[], metavar="FILE")
    at.add_argument("--valid-days", type=_valid_days, metavar="DAYS",
                    help="1 to 3650 (default: the check's own validity)")
    at.add_argument("--by", default="manager", help="who attests")
    at.add_argument("--result", choices=["pass", "fail"], default="pass")
    at.add_argument("--not-applicable", action="store_true",
                    help="the measure (or --check) does not apply here; needs --note")
    add("attestations", cmd_attestations, "list attestations and verify evidence", js, dbp)
    ex = add("export", cmd_export, "write a signed export for inspectors", js, dbp)
    ex.add_argument("--period", metavar="YYYY-MM", help="a calendar month (default: last month)")
    ex.add_argument("--from", metavar="YYYY-MM-DD")
    ex.add_argument("--to", metavar="YYYY-MM-DD")
    ex.add_argument("--out", metavar="DIR", help="default: exports.dir or <data_dir>/exports")
    ex.add_argument("--formats", default="html,pdf,csv,json", help="any of html,pdf,csv,json")
    ex.add_argument("--email", action="store_true",
                    help="e-mail it to exports.email_to (done anyway when SMTP is configured)")
    ve = add("verify-export", cmd_verify_export, "check an export's signature and files", js)
    ve.add_argument("dir", metavar="DIR")
    ve.add_argument("--public-key", metavar="PEM", help="the appliance's pinned public key")
    fb = add("firstboot", cmd_firstboot, "make this unit's own credentials (run once, as root)",
             js)
    fb.add_argument("--root", default="/", help=argparse.SUPPRESS)
    fb.add_argument("--force", action="store_true", help="replace existing credentials")
    u = add("upgrade", cmd_upgrade, "install a new release beside this one; roll back on failure",
            js)
    u.add_argument("source", metavar="WHEEL_OR_DIR")
    u.add_argument("--base", default="/opt/officeguard", help="where venv and releases/ live")
    u.add_argument("--offline", action="store_true", help="install only from WHEEL_OR_DIR")
    u.add_argument("--no-restart", action="store_true", help="switch only; restart later")
    u.add_argument("--health-timeout", type=float, default=90.0)
    t = add("alert-test", cmd_alert_test, "send a test alert over MQTT and record its delivery",
            js, dbp)
    t.add_argument("--by", default="manager", help="who asked for it")
    pr = add("probe", cmd_probe, "run one probe cycle now, inside the authorised scope", js, dbp)
    pr.add_argument("--scope", action="append", metavar="CIDR",
                    help="scope for this run only (repeat or comma-separate)")
    pr.add_argument("--website", action="append", metavar="URL",
                    help="web site to check for this run only (repeatable)")
    pr.add_argument("--jobs", metavar="LIST", help="scan,isolation,website (default: all)")
    pr.add_argument("--no-record", action="store_true", help="print only; store nothing")
    bl = add("baseline", cmd_baseline, "approve a device's open services (4-③)", js, dbp)
    bl.add_argument("action", choices=["approve", "list"])
    bl.add_argument("ip", nargs="?")
    bl.add_argument("--by", default="manager")
    ad = add("advisories", cmd_advisories, "import or list JVN iPedia advisories", js, dbp)
    ad.add_argument("action", choices=["import", "list"])
    ad.add_argument("source", nargs="?", metavar="FILE_OR_URL")
    fwp = add("firmware", cmd_firmware, "show or replace the firmware catalog", js)
    fwp.add_argument("action", choices=["import", "show"])
    fwp.add_argument("source", nargs="?", metavar="FILE_OR_URL")
    from appliance.cli.catalog import cmd_catalog

    cat = add("catalog", cmd_catalog, "show or update the end-of-support catalog (signed or "
              "hashed files only)", js)
    cat.add_argument("action", choices=["update", "show"])
    cat.add_argument("source", nargs="?", metavar="FILE_OR_URL")
    cat.add_argument("--sha256", metavar="HEX", help="the publisher's SHA-256 of the file")
    cat.add_argument("--kind", choices=["eol", "kev"], default="eol",
                     help="eol: end-of-support catalog (default); kev: CISA KEV feed")

    from appliance.cli.users import add_parser as add_user_parser

    add_user_parser(add, js, dbp)
    from appliance.cli.search import add_parser as add_search_parser

    add_search_parser(add, js, dbp)
    add("guideline", cmd_guideline, "list the guideline's measures", js)
    v = add("validate-config", cmd_validate_config, "check a configuration file", js)
    v.add_argument("file", metavar="FILE")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _setup_logging(getattr(args, "verbose", False))
    try:
        config = load(args.file) if args.command == "validate-config" else load(args.config)
    except ConfigError as exc:
        print(f"officeguard: configuration error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        rc: int = args.func(args, config)
        return rc
    except UsageError as exc:
        print(f"officeguard: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (CliError, StoreError, ConfigError, CatalogError) as exc:
        print(f"officeguard: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return EXIT_ERROR

