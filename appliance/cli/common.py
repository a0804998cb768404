"""What every command shares: exit codes, the error type, JSON printing, opening the store."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from appliance.config import Config

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2


class CliError(Exception):
    pass


class UsageError(CliError):
    """A wrong argument (exit 2, as argparse's own usage errors)."""


def print_json(doc: Any) -> None:
    # json.dump writes in chunks: a report of thousands of APs never exists as one string
    json.dump(doc, sys.stdout, ensure_ascii=False, indent=2, default=str)
    sys.stdout.write("\n")


def open_store(config: Config, db: str | None = None) -> Any:
    from appliance.store import Store

    return Store(Path(db) if db else config.db_path)
