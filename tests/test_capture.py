from __future__ import annotations

import struct
from pathlib import Path

import pytest

from agent.capture import CaptureError, ReadStats, read_batches, read_frames, write_pcap
from tests.conftest import PCAPS, pcap, tshark_fields

CAPTURES = sorted(p.name for p in PCAPS.glob("*") if p.suffix != ".md") if PCAPS.exists() else []


@pytest.mark.parametrize("name", CAPTURES)
def test_frame_count_and_times_agree_with_tshark(name: str) -> None:
    path = pcap(name)
    rows = tshark_fields(path, "", "frame.time_epoch", "frame.cap_len")
    stats = ReadStats()
    frames = list(read_frames(path, stats))
    assert len(frames) == len(rows)
    for f, (ts, caplen) in zip(frames, rows, strict=True):
        # tshark prints nanoseconds after the point; a record whose microsecond field is
        # 1,000,000 (seen in wifite2's capture) comes out as ten digits, i.e. one full second.
        sec, _, frac = ts.partition(".")
        assert abs(f.ts - (int(sec) + int(frac or 0) / 1e9)) < 1e-5
        assert len(f.data) == int(caplen)


def test_truncated_capture_keeps_what_came_before() -> None:
    stats = ReadStats()
    frames = list(read_frames(pcap("wifite2_handshake_has_1234.cap"), stats))
    assert len(frames) == 2189
    assert stats.truncated and "cut short" in stats.truncated


def test_not_a_capture(tmp_path: Path) -> None:
    p = tmp_path / "x.pcap"
    p.write_text("hello, I am a text file")
    with pytest.raises(CaptureError, match="not a pcap"):
        list(read_frames(p))
    p.write_bytes(b"")
    with pytest.raises(CaptureError, match="empty"):
        list(read_frames(p))


def test_roundtrip_and_nanosecond_pcap(tmp_path: Path) -> None:
    p = tmp_path / "g.pcap"
    write_pcap(p, 1, [(1.5, b"\x01" * 60), (2.25, b"\x02" * 42)])
    frames = list(read_frames(p))
    assert [(f.ts, f.linktype, f.data[:1]) for f in frames] == [(1.5, 1, b"\x01"),
                                                                (2.25, 1, b"\x02")]
    ns = tmp_path / "ns.pcap"
    with ns.open("wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, 65535, 105))
        f.write(struct.pack("<IIII", 10, 500_000_000, 4, 4) + b"abcd")
    [fr] = list(read_frames(ns))
    assert fr.ts == 10.5 and fr.linktype == 105


def test_absurd_record_length_stops_cleanly(tmp_path: Path) -> None:
    p = tmp_path / "bad.pcap"
    with p.open("wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        f.write(struct.pack("<IIII", 1, 0, 0xFFFFFFF0, 0xFFFFFFF0))
    stats = ReadStats()
    assert list(read_frames(p, stats)) == []
    assert stats.truncated and "implausible" in stats.truncated


@pytest.mark.parametrize("size", [1, 7, 2189, 5000])
def test_batches_of_any_size_give_the_same_records(size: int) -> None:
    """read_batches cuts a pcap in lists; whatever the list size, the records, the count and
    the reason reading stopped are those of a frame-by-frame read (the truncated capture has
    2,189 frames: one list ends exactly there for size 2189, the last list is short for 7)."""
    path = pcap("wifite2_handshake_has_1234.cap")
    one = ReadStats()
    ref = [b for batch in read_batches(path, one, 1) for b in batch]
    stats = ReadStats()
    batches = list(read_batches(path, stats, size))
    assert [r for b in batches for r in b] == ref
    assert all(len(b) == size for b in batches[:-1]) and 0 < len(batches[-1]) <= size
    assert len(ref) == stats.frames == one.frames == 2189
    assert stats.truncated == one.truncated and stats.truncated
    assert stats.linktypes == {105}


def test_batches_skip_impossible_times_and_name_link_types(tmp_path: Path) -> None:
    p = tmp_path / "t.pcap"
    write_pcap(p, 105, [(1.0, b"a" * 30), (4_200_000_000.0, b"b" * 30), (2.0, b"c" * 30)])
    stats = ReadStats()
    assert [[(ts, d[:1]) for ts, _lt, d in b] for b in read_batches(p, stats, 2)] == [
        [(1.0, b"a"), (2.0, b"c")]]
    assert (stats.frames, stats.skipped, stats.linktypes) == (2, 1, {105})
    ng = ReadStats()  # a pcapng file: the same lists, its interface's link type
    assert sum(map(len, read_batches(pcap("ppa_3e80211_wepauth.pcapng"), ng, 3))) == ng.frames
    assert ng.frames == 8 and ng.linktypes == {127}


def test_batches_of_no_size_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        next(read_batches(pcap("wifite2_handshake_has_1234.cap"), size=0))
