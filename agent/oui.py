"""MAC vendor lookup from a maintained OUI database shipped by the OS.

Wireshark's `manuf` (package libwireshark-data, with MA-M/MA-S /28 and /36 blocks) is preferred;
the IEEE registry as packaged by Debian's `ieee-data` is the fallback. Nothing is hand-written.
"""

from __future__ import annotations

import csv
import logging
from pathlib import Path

log = logging.getLogger(__name__)

MANUF_PATHS = (Path("/usr/share/wireshark/manuf"),)
IEEE_PATHS = (
    Path("/usr/share/ieee-data/oui.csv"),
    Path("/usr/share/ieee-data/mam.csv"),
    Path("/usr/share/ieee-data/oui36.csv"),
)


def is_randomized(mac: str) -> bool:
    """Locally administered unicast address: how phones and laptops randomise their MAC."""
    try:
        first = int(mac[:2], 16)
    except ValueError:
        return False
    return bool(first & 0x02) and not first & 0x01


class OuiDb:
    """Longest-prefix vendor lookup over 24-, 28- and 36-bit blocks."""

    def __init__(self) -> None:
        self._by_bits: dict[int, dict[int, str]] = {24: {}, 28: {}, 36: {}}
        self.source = ""

    def __len__(self) -> int:
        return sum(len(t) for t in self._by_bits.values())

    def add(self, prefix: int, bits: int, name: str) -> None:
        self._by_bits.setdefault(bits, {})[prefix] = name

    def lookup(self, mac: str) -> str | None:
        try:
            value = int(mac.replace(":", "").replace("-", ""), 16)
        except ValueError:
            return None
        for bits in (36, 28, 24):
            table = self._by_bits.get(bits)
            if table:
                name = table.get(value >> (48 - bits))
                if name:
                    return name
        return None

    @classmethod
    def load_manuf(cls, path: Path) -> OuiDb:
        db = cls()
        with path.open(encoding="utf-8", errors="replace") as f:
            for line in f:
                if not line or line[0] == "#" or line[0] == "\n":
                    continue
                parts = line.rstrip("\n").split("\t")
                if len(parts) < 2:
                    continue
                addr, _, mask = parts[0].partition("/")
                hexstr = addr.replace(":", "").replace("-", "").replace(".", "")
                bits = int(mask) if mask else len(hexstr) * 4
                if bits not in (24, 28, 36) or len(hexstr) * 4 < bits:
                    continue
                try:
                    value = int(hexstr, 16) >> (len(hexstr) * 4 - bits)
                except ValueError:
                    continue
                name = parts[2].strip() if len(parts) > 2 and parts[2].strip() else parts[1]
                db.add(value, bits, name.strip())
        db.source = str(path)
        return db

    @classmethod
    def load_ieee(cls, paths: tuple[Path, ...]) -> OuiDb:
        db = cls()
        for path in paths:
            if not path.exists():
                continue
            with path.open(encoding="utf-8", errors="replace", newline="") as f:
                for row in csv.DictReader(f):
                    assignment = (row.get("Assignment") or "").strip()
                    name = (row.get("Organization Name") or "").strip()
                    if not assignment or not name:
                        continue
                    try:
                        db.add(int(assignment, 16), len(assignment) * 4, name)
                    except ValueError:
                        continue
            db.source = db.source or str(path)
        return db


_default: OuiDb | None = None


def default_db() -> OuiDb:
    """The OS's OUI database, loaded once; empty (every lookup None) when none is installed."""
    global _default
    if _default is None:
        for p in MANUF_PATHS:
            if p.exists():
                _default = OuiDb.load_manuf(p)
                break
        else:
            _default = OuiDb.load_ieee(IEEE_PATHS)
        if not len(_default):
            log.warning(
                "no OUI database found (install Debian's libwireshark-data or ieee-data): "
                "vendors will be shown as unknown"
            )
    return _default
