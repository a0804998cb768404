"""The vendor lookup from Wireshark's manuf file (the OS's, as the appliance has it): every
block of the file, /24, /28 and /36, answers with its own name, the longest block first."""

from __future__ import annotations

import os
import random
import stat
import zlib
from pathlib import Path

import pytest

from agent import oui
from agent.oui import MANUF_PATHS, OuiDb

MANUF = next((p for p in MANUF_PATHS if p.exists()), None)
needs_manuf = pytest.mark.skipif(MANUF is None, reason="Wireshark's manuf is not installed")


def _blocks(path: Path) -> list[tuple[str, int, str]]:
    """(hex digits, bits, name) of every block line, read with nothing shared with OuiDb."""
    out = []
    for line in path.read_text(encoding="utf-8", errors="replace").split("\n"):
        if not line.strip() or line.startswith("#"):
            continue
        cols = line.split("\t")
        prefix, _, bits = cols[0].partition("/")
        digits = "".join(ch for ch in prefix if ch in "0123456789abcdefABCDEF")
        name = cols[2].strip() if len(cols) > 2 and cols[2].strip() else cols[1].strip()
        out.append((digits, int(bits) if bits else len(digits) * 4, name))
    return out


def _mac(digits: str, bits: int, rnd: random.Random) -> str:
    """An address inside the block: its first BITS bits, the rest random."""
    value = (int(digits, 16) >> (len(digits) * 4 - bits) << (48 - bits)) | rnd.getrandbits(
        48 - bits)
    return ":".join(f"{(value >> s) & 0xFF:02x}" for s in range(40, -8, -8))


@needs_manuf
def test_every_kind_of_block_gives_its_name() -> None:
    assert MANUF is not None
    db = OuiDb.load_manuf(MANUF)
    blocks = [b for b in _blocks(MANUF) if b[1] in (24, 28, 36)]
    longest = {(d[: b // 4].lower(), b) for d, b, _n in blocks if b > 24}
    rnd = random.Random(5)
    by_bits = {bits: [b for b in blocks if b[1] == bits] for bits in (24, 28, 36)}
    assert all(len(v) > 100 for v in by_bits.values()), {k: len(v) for k, v in by_bits.items()}
    checked = 0
    for bits, rows in by_bits.items():
        for digits, _b, name in rnd.sample(rows, 300):
            mac = _mac(digits, bits, rnd)
            hexmac = mac.replace(":", "")
            if bits == 24 and any((hexmac[: n // 4], n) in longest for n in (28, 36)):
                continue  # a /24 split into smaller blocks: one of those answers
            if bits == 28 and (hexmac[:9], 36) in longest:
                continue
            assert db.lookup(mac) == name, (mac, bits, name)
            assert db.lookup(mac.upper().replace(":", "-")) == name
            checked += 1
    assert checked > 600
    assert len(db) == len(blocks)
    assert db.lookup("not a mac") is None


# -- the compiled table's cache ---------------------------------------------------------------

def _sample_macs(db: OuiDb, n: int = 2000) -> list[str]:
    rnd = random.Random(9)
    return [":".join(f"{rnd.getrandbits(8):02x}" for _ in range(6)) for _ in range(n)] + [
        _mac(f"{p:x}".zfill(bits // 4), bits, rnd)
        for bits, (prefixes, _names) in db._tables.items() for p in prefixes[::50]]


@needs_manuf
def test_the_cached_table_answers_like_the_registry(tmp_path: Path) -> None:
    """The OS's manuf, read once and cached: the table read back gives every lookup the same
    answer, and the cache is private to its user."""
    read = oui.load(tmp_path / "cache")
    cached = oui.load(tmp_path / "cache")
    macs = _sample_macs(read)
    assert len(cached) == len(read) > 40_000 and cached.source == read.source
    assert [cached.lookup(m) for m in macs] == [read.lookup(m) for m in macs]
    assert sum(read.lookup(m) is not None for m in macs) > 1000
    assert stat.S_IMODE((tmp_path / "cache").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "cache" / oui.CACHE_FILE).stat().st_mode) == 0o600


def _manuf(path: Path, names: tuple[str, str, str]) -> None:
    path.write_text("# a manuf of three blocks\n"
                    f"00:00:5E\tIana\t{names[0]}\n"
                    f"00:1B:C5:00:00:00/36\tConv\t{names[1]}\n"
                    f"70:B3:D5:F0:00:00/28\tBlk\t{names[2]}\n", encoding="utf-8")


def _answers(db: OuiDb) -> list[str | None]:
    return [db.lookup(m) for m in ("00:00:5e:00:53:01", "00:1b:c5:00:00:99",
                                   "70:b3:d5:f0:12:34", "02:00:00:00:00:01")]


@pytest.fixture
def registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    manuf = tmp_path / "manuf"
    _manuf(manuf, ("Alpha Ltd", "Beta Ltd", "Gamma Ltd"))
    monkeypatch.setattr(oui, "MANUF_PATHS", (manuf,))
    monkeypatch.setattr(oui, "IEEE_PATHS", ())
    return manuf


def test_the_cache_is_used_until_the_registry_changes(tmp_path: Path, registry: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "cache"
    assert _answers(oui.load(cache)) == ["Alpha Ltd", "Beta Ltd", "Gamma Ltd", None]

    def no_reading(*_a: object) -> OuiDb:
        raise AssertionError("the registry was read again")

    with monkeypatch.context() as m:  # the cache alone answers
        m.setattr(OuiDb, "load_manuf", no_reading)
        assert _answers(oui.load(cache)) == ["Alpha Ltd", "Beta Ltd", "Gamma Ltd", None]
    # an updated registry is read again and cached, even copied in with the same size and
    # modification time (cp -p, rsync -t): its change time tells
    st = registry.stat()
    _manuf(registry, ("Alpha Ltc", "Beta Ltc", "Gamma Ltc"))
    os.utime(registry, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert registry.stat().st_size == st.st_size
    assert _answers(oui.load(cache)) == ["Alpha Ltc", "Beta Ltc", "Gamma Ltc", None]
    with monkeypatch.context() as m:
        m.setattr(OuiDb, "load_manuf", no_reading)
        assert _answers(oui.load(cache)) == ["Alpha Ltc", "Beta Ltc", "Gamma Ltc", None]
    registry.unlink()  # the key names a file that is gone: nothing from the cache
    assert _answers(oui.load(cache)) == [None, None, None, None]


def _recrc(blob: bytes) -> bytes:
    """BLOB with its checksum made right again: damage the checksum cannot see."""
    return blob[:-4] + zlib.crc32(blob[:-4]).to_bytes(4, "big")


def _header_edit(blob: bytes, old: bytes, new: bytes) -> bytes:
    assert old in blob[:400], blob[:400]
    return _recrc(blob[:-4].replace(old, new, 1) + blob[-4:])


@pytest.mark.parametrize("damage", ["name", "table", "cut", "empty", "header", "other-machine",
                                    "bits", "count", "deep", "fifo", "device", "huge"])
def test_a_damaged_cache_is_read_past_and_rewritten(tmp_path: Path, registry: Path,
                                                     damage: str) -> None:
    cache = tmp_path / "cache"
    oui.load(cache)
    f = cache / oui.CACHE_FILE
    blob = f.read_bytes()
    magic = b"officeguard-oui\n"
    if damage == "name":
        blob = blob[:-6] + bytes([blob[-6] ^ 0x01]) + blob[-5:]  # a bit of the last name
    elif damage == "table":
        at = blob.index(b"\n", len(magic)) + 2
        blob = blob[:at] + bytes([blob[at] ^ 0x40]) + blob[at + 1:]  # a bit of a prefix
    elif damage == "cut":
        blob = blob[: len(blob) // 2]
    elif damage == "empty":
        blob = b""
    elif damage == "header":  # one bit of the header: the checksum covers it too
        blob = blob[:len(magic) + 12] + bytes([blob[len(magic) + 12] ^ 0x02]) + blob[
            len(magic) + 13:]
    elif damage == "other-machine":
        blob = _header_edit(blob, b'"format": "1 ', b'"format": "0 ')
    elif damage == "bits":  # well-formed, checksum right, a table of impossible blocks
        blob = _header_edit(blob, b'"tables": [[24,', b'"tables": [[26,')
    elif damage == "count":
        blob = _header_edit(blob, b'"tables": [[24, 1]', b'"tables": [[24, 100000000000]')
    elif damage == "deep":
        blob = _recrc(magic + b"[" * 100_000 + b"\n" + b"\0" * 4)
    elif damage == "huge":
        blob = blob + b"\0" * (oui.CACHE_MAX_BYTES + 1)
    if damage == "fifo":
        f.unlink()
        os.mkfifo(f)  # would block a plain read
    elif damage == "device":
        f.unlink()
        f.symlink_to("/dev/zero")
    else:
        f.write_bytes(blob)
    # the registry is unchanged (the cache's key still matches): the damage alone must send
    # the reading back to the registry; a damaged table used would answer otherwise
    assert _answers(oui.load(cache)) == ["Alpha Ltd", "Beta Ltd", "Gamma Ltd", None]
    assert f.is_file() and not f.is_symlink()  # rewritten, and good again
    with pytest.MonkeyPatch.context() as m:
        m.setattr(OuiDb, "load_manuf", lambda *_a: pytest.fail("not from the cache"))
        assert _answers(oui.load(cache)) == ["Alpha Ltd", "Beta Ltd", "Gamma Ltd", None]


def test_an_empty_registry_is_not_cached_and_old_temporary_files_go(tmp_path: Path,
                                                                    registry: Path) -> None:
    cache = tmp_path / "cache"
    registry.write_text("# only comments\n")
    assert _answers(oui.load(cache)) == [None, None, None, None]
    assert not (cache / oui.CACHE_FILE).exists()
    cache.mkdir(exist_ok=True)
    stale, fresh = cache / ".oui-killed", cache / ".oui-writing"  # another writer's, just now
    stale.write_bytes(b"x")
    fresh.write_bytes(b"y")
    os.utime(stale, (1_000_000, 1_000_000))
    _manuf(registry, ("Alpha Ltd", "Beta Ltd", "Gamma Ltd"))
    assert _answers(oui.load(cache)) == ["Alpha Ltd", "Beta Ltd", "Gamma Ltd", None]
    assert sorted(x.name for x in cache.iterdir()) == [".oui-writing", oui.CACHE_FILE]


def test_without_a_usable_cache_folder_the_registry_is_read(tmp_path: Path,
                                                            registry: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    for cache in (blocker, blocker / "below", None):
        assert _answers(oui.load(cache)) == ["Alpha Ltd", "Beta Ltd", "Gamma Ltd", None]
    assert blocker.read_text() == "x" and sorted(tmp_path.iterdir()) == sorted(
        [blocker, registry])  # no temporary file left behind


def test_the_ieee_registry_is_cached_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                         ) -> None:
    csv_ = tmp_path / "oui.csv"
    csv_.write_text("Registry,Assignment,Organization Name,Organization Address\n"
                    'MA-L,00005E,"Iana, Inc.",somewhere\nMA-L,001BC5,Beta,x\n', encoding="utf-8")
    mam = tmp_path / "mam.csv"
    mam.write_text("Registry,Assignment,Organization Name,Organization Address\n"
                   "MA-M,70B3D5F,Gamma,x\n", encoding="utf-8")
    monkeypatch.setattr(oui, "MANUF_PATHS", (tmp_path / "no-manuf",))
    monkeypatch.setattr(oui, "IEEE_PATHS", (csv_, mam, tmp_path / "no-oui36.csv"))
    first = oui.load(tmp_path / "cache")
    assert _answers(first) == ["Iana, Inc.", "Beta", "Gamma", None]
    assert (tmp_path / "cache" / oui.CACHE_FILE).exists()
    mam.write_text(mam.read_text().replace("Gamma", "Delta"))  # a changed size: read again
    assert _answers(oui.load(tmp_path / "cache")) == ["Iana, Inc.", "Beta", "Delta", None]


def test_where_the_cache_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CACHE_DIRECTORY", "/var/cache/officeguard")  # systemd's, for a unit
    assert oui.cache_dir() == Path("/var/cache/officeguard")
    monkeypatch.delenv("CACHE_DIRECTORY")
    monkeypatch.setenv("XDG_CACHE_HOME", "/home/u/.cachex")
    assert oui.cache_dir() == Path("/home/u/.cachex/officeguard")
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", "/home/u")
    assert oui.cache_dir() == Path("/home/u/.cache/officeguard")
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/cache")  # ignored, as XDG says
    assert oui.cache_dir() == Path("/home/u/.cache/officeguard")
    monkeypatch.delenv("HOME")
    assert oui.cache_dir() is None
