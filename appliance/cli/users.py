"""`officeguard user`: dashboard accounts from the console — list, new password, disable,
enable, end sessions. Every change is written to the audit log as made by `--by`.

A password is never an argument (any local user can read command lines): it is asked for on
the terminal, or read as the first line of standard input (`--password-stdin`).
"""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

from appliance.cli.common import EXIT_OK, CliError
from appliance.cli.common import open_store as _open_store
from appliance.cli.common import print_json as _print_json
from appliance.config import Config


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin or not sys.stdin.isatty():
        line = sys.stdin.readline()
        return line.rstrip("\r\n")
    first = getpass.getpass("new password: ")
    if getpass.getpass("again: ") != first:
        raise CliError("the two passwords differ; nothing changed")
    return first


def cmd_user(args: argparse.Namespace, config: Config) -> int:
    from web import security as sec

    with _open_store(config, args.db) as store:
        if args.action == "list":
            from appliance.store import auth

            rows = store.read_with(auth.users)
            doc = [{"username": r["username"], "role": r["role"],
                    "disabled": bool(r["disabled"]), "sessions": r["sessions"]} for r in rows]
            if args.json:
                _print_json({"users": doc})
            else:
                for u in doc:
                    print(f"{u['username']}\t{u['role']}\t"
                          f"{'disabled' if u['disabled'] else 'enabled'}\t"
                          f"{u['sessions']} session(s)")
            return EXIT_OK
        if not args.username:
            raise CliError(f"user {args.action}: say which user")
        name = args.username
        result: dict[str, Any] = {"username": name, "action": args.action}
        try:
            if args.action == "passwd":
                pw = _read_password(args)
                store.write(lambda c: sec.set_password(c, args.by, name, pw))
            elif args.action in ("disable", "enable"):
                store.write(lambda c: sec.set_disabled(c, args.by, name,
                                                       args.action == "disable"))
            else:
                result["sessions_ended"] = store.write(
                    lambda c: sec.end_sessions(c, args.by, name))
        except sec.AuthError as exc:
            raise CliError(str(exc)) from exc
    if args.json:
        _print_json(result)
    else:
        extra = f" ({result['sessions_ended']} session(s))" if "sessions_ended" in result else ""
        print(f"{name}: {args.action} done{extra}")
    return EXIT_OK


def add_parser(add: Any, js: argparse.ArgumentParser, dbp: argparse.ArgumentParser) -> None:
    u = add("user", cmd_user, "dashboard accounts: list, passwd, disable, enable, end-sessions",
            js, dbp)
    u.add_argument("action", choices=["list", "passwd", "disable", "enable", "end-sessions"])
    u.add_argument("username", nargs="?")
    u.add_argument("--by", default="console", help="who makes the change (audit log)")
    u.add_argument("--password-stdin", action="store_true",
                   help="read the new password from the first line of standard input")
