"""MAC vendor lookup from a maintained OUI database shipped by the OS.

Wireshark's `manuf` (package libwireshark-data, with MA-M/MA-S /28 and /36 blocks) is preferred;
the IEEE registry as packaged by Debian's `ieee-data` is the fallback. Nothing is hand-written.
"""

from __future__ import annotations

import csv
import logging
from array import array
from bisect import bisect_left
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
    """Longest-prefix vendor lookup over 24-, 28- and 36-bit blocks.

    Compact on purpose (the registry has ~50,000 blocks): per block length a sorted array of
    prefixes and a parallel array of indexes into one list of distinct vendor names.
    """

    def __init__(self) -> None:
        self._pending: dict[int, tuple[array[int], array[int]]] = {}
        self._tables: dict[int, tuple[array[int], array[int]]] = {}
        self._names: list[str] = []
        self._index: dict[str, int] = {}
        self.source = ""

    def __len__(self) -> int:
        self._seal()
        return sum(len(p) for p, _ in self._tables.values())

    def add(self, prefix: int, bits: int, name: str) -> None:
        i = self._index.get(name)
        if i is None:
            i = self._index[name] = len(self._names)
            self._names.append(name)
        if bits not in self._pending:
            self._pending[bits] = (array("Q"), array("I"))
        p, n = self._pending[bits]
        p.append(prefix)
        n.append(i)
        self._tables = {}

    def _seal(self) -> None:
        if self._tables or not self._pending:
            return
        for bits, (p, n) in self._pending.items():
            order = sorted(range(len(p)), key=p.__getitem__)
            self._tables[bits] = (array("Q", (p[i] for i in order)),
                                  array("I", (n[i] for i in order)))

    def lookup(self, mac: str) -> str | None:
        try:
            value = int(mac.replace(":", "").replace("-", ""), 16)
        except ValueError:
            return None
        self._seal()
        for bits in (36, 28, 24):
            table = self._tables.get(bits)
            if not table:
                continue
            prefixes, names = table
            key = value >> (48 - bits)
            i = bisect_left(prefixes, key)
            if i < len(prefixes) and prefixes[i] == key:
                return self._names[names[i]]
        return None

    def finish(self) -> OuiDb:
        self._seal()
        self._pending = {}
        self._index = {}
        return self

    @classmethod
    def load_manuf(cls, path: Path) -> OuiDb:
        """Wireshark's manuf: one line per block, `prefix[/bits] <tab> short <tab> long name`;
        a line it cannot read is skipped."""
        db = cls()
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            if not line or line[0] == "#":
                continue
            parts = line.split("\t")
            if len(parts) < 2:
                continue
            addr, _, mask = parts[0].partition("/")
            hexstr = addr.replace(":", "").replace("-", "").replace(".", "")
            width = len(hexstr) * 4
            bits = int(mask) if mask.isdigit() else width
            if bits not in (24, 28, 36) or width < bits:
                continue
            try:
                value = int(hexstr, 16) >> (width - bits)
            except ValueError:
                continue
            name = parts[2] if len(parts) > 2 and parts[2].strip() else parts[1]
            db.add(value, bits, name.strip())
        db.source = str(path)
        return db.finish()

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
        return db.finish()


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
