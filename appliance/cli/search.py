"""`officeguard search TEXT`: findings, access points, devices, stations and host names holding
every word of TEXT (the store's full-text index, appliance/store/search.py)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from appliance.cli.common import EXIT_OK, CliError, UsageError, print_json
from appliance.config import Config
from appliance.store import migrate, open_readonly
from appliance.store import search as fts


def _limit(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if not 1 <= n <= fts.MAX_LIMIT:
        raise argparse.ArgumentTypeError(f"{n}: must be 1 to {fts.MAX_LIMIT}")
    return n


def cmd_search(args: argparse.Namespace, config: Config) -> int:
    text = " ".join(args.text)
    try:
        fts.terms_of(text)  # a clear usage error before the database is opened
    except fts.SearchError as exc:
        raise UsageError(str(exc)) from None
    path = Path(args.db) if args.db else config.db_path
    conn = open_readonly(path)
    try:
        if fts.missing_indexes(conn) and os.access(path, os.W_OK):
            # a database of an earlier version, not yet opened by this one: the index is
            # built as every opener of this version builds it (after the migrations)
            conn.close()
            migrate(path)
            conn = open_readonly(path)
        try:
            hits = fts.search(conn, text, args.limit)
        except fts.SearchError as exc:
            raise CliError(str(exc)) from None
    finally:
        conn.close()
    if args.json:
        print_json({"query": text, "hits": [h.as_dict() for h in hits]})
        return EXIT_OK
    if not hits:
        print("no matches")
    for h in hits:
        name = h.label if h.label == h.label_ja else f"{h.label_ja} / {h.label}"
        extra = f" [{h.severity}] {h.status}" if h.kind is fts.HitKind.FINDING else ""
        ident = f"#{h.id}" if h.kind is fts.HitKind.FINDING else h.id
        print(f"{h.kind}{extra} {ident} {name}\n    {h.field}: {h.snippet}\n    {h.link}")
    return EXIT_OK


def add_parser(add: Any, js: argparse.ArgumentParser, dbp: argparse.ArgumentParser) -> None:
    s = add("search", cmd_search, "find findings, access points, devices and stations by "
            "SSID, MAC, IP, host name or any words", js, dbp)
    s.add_argument("text", nargs="+", metavar="TEXT", help="words; all of them must match")
    s.add_argument("--limit", type=_limit, default=fts.DEFAULT_LIMIT,
                   help=f"at most this many results (1 to {fts.MAX_LIMIT}, default "
                        f"{fts.DEFAULT_LIMIT})")
