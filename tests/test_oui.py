"""The vendor lookup from Wireshark's manuf file (the OS's, as the appliance has it): every
block of the file, /24, /28 and /36, answers with its own name, the longest block first."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from agent.oui import MANUF_PATHS, OuiDb

MANUF = next((p for p in MANUF_PATHS if p.exists()), None)
pytestmark = pytest.mark.skipif(MANUF is None, reason="Wireshark's manuf is not installed")


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
