"""MAC vendor lookup from a maintained OUI database shipped by the OS.

Wireshark's `manuf` (package libwireshark-data, with MA-M/MA-S /28 and /36 blocks) is preferred;
the IEEE registry as packaged by Debian's `ieee-data` is the fallback. Nothing is hand-written.
"""

from __future__ import annotations

import contextlib
import csv
import json
import logging
import os
import sys
import tempfile
import time
import zlib
from array import array
from bisect import bisect_left
from pathlib import Path

from appliance.files import open_regular

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

    # -- the compiled table, as the cache keeps it ----------------------------------------------
    def to_bytes(self, key: object) -> bytes | None:
        """The sealed tables as bytes for `from_bytes`, marked with KEY (what they were read
        from), a CRC-32 of everything at the end; None when there is nothing to keep (no
        names, or a name holding a NUL)."""
        self._seal()
        if not self._names or any("\0" in n for n in self._names):
            return None
        tables = sorted(self._tables.items())
        payload = b"".join(p.tobytes() + n.tobytes() for _b, (p, n) in tables)
        payload += "\0".join(self._names).encode("utf-8", "surrogatepass")
        header = {"format": _CACHE_FORMAT, "key": key, "source": self.source,
                  "tables": [[b, len(p)] for b, (p, _n) in tables], "names": len(self._names)}
        body = _CACHE_MAGIC + json.dumps(header).encode() + b"\n" + payload
        return body + zlib.crc32(body).to_bytes(4, "big")

    @classmethod
    def from_bytes(cls, blob: bytes, key: object) -> OuiDb | None:
        """The tables `to_bytes` wrote for KEY; None for anything else (another key, format or
        machine, a damaged, cut or edited file): the caller then reads the registry again."""
        try:
            return cls._from_bytes(blob, key)
        except Exception:  # noqa: BLE001 - whatever the damage: read the registry again
            return None

    @classmethod
    def _from_bytes(cls, blob: bytes, key: object) -> OuiDb | None:
        if len(blob) < len(_CACHE_MAGIC) + 4 or not blob.startswith(_CACHE_MAGIC):
            return None
        body = memoryview(blob)[:-4]
        if zlib.crc32(body) != int.from_bytes(blob[-4:], "big"):  # header and tables alike
            return None
        end = blob.find(b"\n", len(_CACHE_MAGIC), len(body))
        if end < 0:
            return None
        header = json.loads(blob[len(_CACHE_MAGIC):end])
        if not isinstance(header, dict) or header.get("format") != _CACHE_FORMAT or (
                header.get("key") != key):
            return None
        tables, count, source = header.get("tables"), header.get("names"), header.get("source")
        if not isinstance(tables, list) or type(count) is not int or count < 1 or (
                not isinstance(source, str)):
            return None
        payload = body[end + 1:]
        db = cls()
        at = 0
        for entry in tables:
            if not (isinstance(entry, list) and len(entry) == 2 and type(entry[0]) is int
                    and entry[0] in (24, 28, 36) and entry[0] not in db._tables
                    and type(entry[1]) is int and entry[1] >= 0):
                return None
            bits, n = entry
            p, i = array("Q"), array("I")
            if at + n * (p.itemsize + i.itemsize) > len(payload):
                return None
            p.frombytes(payload[at:at + n * p.itemsize])
            at += n * p.itemsize
            i.frombytes(payload[at:at + n * i.itemsize])
            at += n * i.itemsize
            db._tables[bits] = (p, i)
        names = bytes(payload[at:]).decode("utf-8", "surrogatepass").split("\0")
        if len(names) != count or any(len(i) and max(i) >= count for _p, i in db._tables.values()):
            return None
        db._names, db.source = names, source
        return db

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


# The compiled table is cached: reading the registry takes 0.1-0.2 s here (several times that
# on a Pi) at every start of the agent and every `officeguard ingest`; the cache about 5 ms.
# The format names the machine's byte order and array item sizes: a cache is never shared.
_CACHE_MAGIC = b"officeguard-oui\n"
_CACHE_FORMAT = f"1 {sys.byteorder} Q{array('Q').itemsize} I{array('I').itemsize}"
CACHE_FILE = "oui.bin"


def cache_dir() -> Path | None:
    """Where the compiled vendor table is kept: systemd's CacheDirectory for the services
    ($CACHE_DIRECTORY), else $XDG_CACHE_HOME/officeguard or ~/.cache/officeguard."""
    for var, below in (("CACHE_DIRECTORY", ()), ("XDG_CACHE_HOME", ("officeguard",)),
                       ("HOME", (".cache", "officeguard"))):
        d = Path(os.environ.get(var, "").split(":")[0])
        if d.is_absolute():  # a relative one is ignored, as the XDG specification says
            return d.joinpath(*below)
    return None


def _sources() -> tuple[list[Path], bool]:
    """The files the table is read from (Wireshark's manuf, else the IEEE registry) and
    whether they are the manuf."""
    for p in MANUF_PATHS:
        if p.exists():
            return [p], True
    return [p for p in IEEE_PATHS if p.exists()], False


def load(cache: Path | None) -> OuiDb:
    """The OS's OUI database: from CACHE (a folder) when a table compiled from the same files
    (path, size, modification and change times, inode) is there, else read from the files and
    cached. A cache that cannot be read or written only costs the time to read the files."""
    paths, manuf = _sources()
    try:
        # the inode and change time too: a file copied over with its size and time kept
        key = [[str(p), st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns]
               for p in paths for st in (p.stat(),)]
    except OSError:
        key = None
    target = cache / CACHE_FILE if cache is not None and key else None
    if target is not None:
        blob = _read_cache(target)
        db = OuiDb.from_bytes(blob, key) if blob is not None else None
        if db is not None:
            return db
    db = OuiDb.load_manuf(paths[0]) if manuf else OuiDb.load_ieee(tuple(paths))
    blob = db.to_bytes(key) if target is not None else None
    if target is not None and blob is not None:
        try:
            target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".oui-", dir=target.parent)
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(blob)
                os.replace(tmp, target)
            except BaseException:
                os.unlink(tmp)
                raise
            for old in target.parent.glob(".oui-*"):  # left by a process killed while writing
                with contextlib.suppress(OSError):
                    if time.time() - old.lstat().st_mtime > 600:
                        old.unlink()
        except OSError as exc:
            log.debug("could not cache the vendor table in %s: %s", target.parent, exc)
    return db


CACHE_MAX_BYTES = 16 << 20  # the table of today's registry is 1.4 MB


def _read_cache(target: Path) -> bytes | None:
    """The cache file's bytes, if it is a regular file of a sane size (not a FIFO, which would
    block, nor a link to a device)."""
    try:
        with os.fdopen(open_regular(target, CACHE_MAX_BYTES), "rb") as f:
            return f.read(CACHE_MAX_BYTES + 1)
    except OSError:
        return None


_default: OuiDb | None = None


def default_db() -> OuiDb:
    """The OS's OUI database, loaded once (see `load`); empty (every lookup None) when none is
    installed."""
    global _default
    if _default is None:
        _default = load(cache_dir())
        if not len(_default):
            log.warning(
                "no OUI database found (install Debian's libwireshark-data or ieee-data): "
                "vendors will be shown as unknown"
            )
    return _default
