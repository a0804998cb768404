"""Fuzz targets (issue #14): pcap/pcapng headers and block options, and the config loader.

CI runs a short pass (the `ci` profile, seeded with every input that once broke the product).
The long run — at least ten minutes per target — is `make fuzz` (bench/fuzz_inputs.py), which
repeats these targets with the `long` profile until the time is up. The property is the same
either way: a damaged or hostile input ends in CaptureError/ConfigError or a clean result,
never another exception, and nothing outside 1970..2100 comes out as a frame time.
"""

from __future__ import annotations

import contextlib
import math
import os
import struct
import tempfile
import tomllib
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from agent.capture import TS_MAX, TS_MIN, CaptureError, ReadStats, read_records
from appliance.config import ConfigError, dump_settings, from_mapping, parse_toml

settings.register_profile("ci", max_examples=150, deadline=None,
                          suppress_health_check=list(HealthCheck))
settings.register_profile("long", max_examples=2_000, deadline=None,
                          suppress_health_check=list(HealthCheck))
PROFILE = os.environ.get("OFFICEGUARD_FUZZ_PROFILE", "ci")


def _read_all(raw: bytes) -> None:
    with tempfile.NamedTemporaryFile(suffix=".cap") as f:
        f.write(raw)
        f.flush()
        stats = ReadStats()
        try:
            for ts, _lt, data in read_records(Path(f.name), stats):
                assert TS_MIN <= ts < TS_MAX and math.isfinite(ts)
                assert isinstance(data, bytes)
        except CaptureError:
            pass


# -- pcap ------------------------------------------------------------------------------------
_MAGICS = [b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d"]
u32 = st.integers(0, 2**32 - 1)


@st.composite
def pcap_files(draw: Any) -> bytes:
    out = draw(st.sampled_from(_MAGICS)) + draw(st.binary(min_size=0, max_size=24))[:20]
    for _ in range(draw(st.integers(0, 6))):
        data = draw(st.binary(max_size=64))
        incl = draw(st.one_of(st.just(len(data)), u32))
        out += struct.pack("<IIII", draw(u32), draw(u32), incl, draw(u32)) + data
    if draw(st.booleans()):
        out = out[: draw(st.integers(0, len(out)))]
    return out


@settings.get_profile(PROFILE)  # type: ignore[misc]
@given(pcap_files())
@example(b"\xd4\xc3\xb2\xa1" + struct.pack("<HHiIII", 2, 4, 0, 0, 65535, 1)
         + struct.pack("<IIII", 2**32 - 1, 999999, 4, 4) + b"abcd")
def test_fuzz_pcap(raw: bytes) -> None:
    _read_all(raw)


# -- pcapng ----------------------------------------------------------------------------------
def _block(e: str, btype: int, body: bytes, length: int | None = None) -> bytes:
    body += b"\x00" * (-len(body) % 4)
    n = len(body) + 12 if length is None else length
    return struct.pack(e + "II", btype, n) + body + struct.pack(e + "I", n)


@st.composite
def options(draw: Any, e: str) -> bytes:
    out = b""
    for _ in range(draw(st.integers(0, 4))):
        code = draw(st.sampled_from([0, 1, 2, 9, 10, 14, 0xFFFF]))
        value = draw(st.binary(max_size=12))
        length = draw(st.one_of(st.just(len(value)), st.integers(0, 0xFFFF)))
        out += struct.pack(e + "HH", code, length) + value + b"\x00" * (-len(value) % 4)
    if draw(st.booleans()):
        out = out[: draw(st.integers(0, len(out)))]
    return out


@st.composite
def pcapng_files(draw: Any) -> bytes:
    e = draw(st.sampled_from(["<", ">"]))
    bom = struct.pack(e + "I", 0x1A2B3C4D)
    shb_body = bom + struct.pack(e + "HHq", 1, 0, -1) + draw(options(e))
    out = _block(e, 0x0A0D0D0A, shb_body,
                 draw(st.one_of(st.none(), st.integers(0, 300_000))))
    for _ in range(draw(st.integers(0, 8))):
        kind = draw(st.sampled_from(["idb", "epb", "spb", "shb", "other"]))
        if kind == "idb":
            body = struct.pack(e + "HHI", draw(st.sampled_from([1, 105, 127, 192, 0, 65535])),
                               0, draw(u32)) + draw(options(e))
            out += _block(e, 1, body)
        elif kind == "epb":
            data = draw(st.binary(max_size=48))
            cap_len = draw(st.one_of(st.just(len(data)), u32))
            body = struct.pack(e + "IIIII", draw(st.integers(0, 3)), draw(u32), draw(u32),
                               cap_len, draw(u32)) + data
            out += _block(e, 6, body)
        elif kind == "spb":
            data = draw(st.binary(max_size=32))
            out += _block(e, 3, struct.pack(e + "I", draw(u32)) + data)
        elif kind == "shb":
            out += _block(e, 0x0A0D0D0A, draw(st.binary(max_size=28)))
        else:
            out += _block(e, draw(u32), draw(st.binary(max_size=32)),
                          draw(st.one_of(st.none(), u32)))
    if draw(st.booleans()):
        out = out[: draw(st.integers(0, len(out)))]
    return out


_SHB = _block("<", 0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))


@settings.get_profile(PROFILE)  # type: ignore[misc]
@given(pcapng_files())
# seeds: whole-second interface with a 2^62 timestamp; if_tsresol without its value byte;
# a resolution of 10^-127
@example(_SHB + _block("<", 1, struct.pack("<HHI", 127, 0, 0) + b"\x09\x00\x01\x00\x00\x00\x00\x00")
         + _block("<", 6, struct.pack("<IIIII", 0, 2**30, 0, 4, 4) + b"abcd"))
@example(_SHB + _block("<", 1, struct.pack("<HHI", 127, 0, 0) + b"\x09\x00\x01\x00")
         + _block("<", 6, struct.pack("<IIIII", 0, 1, 2, 4, 4) + b"abcd"))
@example(_SHB + _block("<", 1, struct.pack("<HHI", 127, 0, 0) + b"\x09\x00\x01\x00\x7f\x00\x00\x00")
         + _block("<", 6, struct.pack("<IIIII", 0, 1, 2, 4, 4) + b"abcd"))
def test_fuzz_pcapng(raw: bytes) -> None:
    _read_all(raw)


# -- the config loader -----------------------------------------------------------------------
_KEYS = {
    "facility": ["id", "name", "ssids", "framework"], "networks": ["guest", "business",
                                                                   "gateways"],
    "lan": ["poisoning_window_s", "mac_allowlist", "allowlist_mode"],
    "wifi": ["channels_24", "dwell_s", "min_frames", "leakage_threshold_dbm"],
    "probe": ["scope", "websites", "ports", "rate_per_s", "allow_public_scope"],
    "mqtt": ["host", "port", "topic_prefix", "quiet_hours", "password_file"],
    "storage": ["retention_days", "flush_interval_s"],
    "web": ["timezone", "port", "session_hours", "allowed_hosts", "trusted_proxies",
            "max_body_kib"],
}
_text = st.text(alphabet=st.characters(codec="utf-8"), max_size=40)
_scalars = st.one_of(st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=True,
                                                                           allow_infinity=True),
                     _text, st.sampled_from(["8.8.8.8/32", "255.255.255.255/32", "192.0.2.0/24",
                                             "Mars/Base", "Asia/Tokyo", "x" * 40, "",
                                             "aa:bb:cc:dd:ee:ff", "::/0", "../../etc"]))
_values = st.recursive(_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(_text, inner, max_size=3)), max_leaves=12)


@st.composite
def config_maps(draw: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for section in draw(st.lists(st.sampled_from([*_KEYS, "bogus"]), max_size=5, unique=True)):
        keys = _KEYS.get(section, ["x"])
        out[section] = {k: draw(_values) for k in draw(st.lists(st.sampled_from(keys),
                                                                max_size=4, unique=True))}
        if section == "facility" and draw(st.booleans()):
            out[section]["ssids"] = [{"name": draw(_text), "role": draw(_text)}]
    return out


@settings.get_profile(PROFILE)  # type: ignore[misc]
@given(config_maps())
@example({"lan": {"poisoning_window_s": float("nan")}})
@example({"facility": {"ssids": [{"name": "x" * 36}]}})
@example({"web": {"timezone": "Mars/Base"}})
def test_fuzz_config_mapping(data: dict[str, Any]) -> None:
    try:
        cfg = from_mapping(data)
    except ConfigError:
        return
    # whatever is accepted is usable: finite numbers, SSIDs of 1..32 bytes, writable settings
    for s in cfg.facility.ssids:
        assert 1 <= len(s.name.encode()) <= 32
    assert math.isfinite(cfg.lan.poisoning_window_s)
    text = dump_settings({"facility": {"name": cfg.facility.name,
                                       "ssids": [{"name": s.name, "role": s.role}
                                                 for s in cfg.facility.ssids]}})
    assert tomllib.loads(text)["facility"]["name"] == cfg.facility.name


@settings.get_profile(PROFILE)  # type: ignore[misc]
@given(st.one_of(st.binary(max_size=200), _text.map(str.encode),
                 st.integers(1, 20_000).map(lambda n: b"a = " + b"[" * n + b"]" * n),
                 st.integers(1, 20_000).map(lambda n: b"a = " + b"{b = " * n + b"1"
                                            + b"}" * n)))
@example(b"x = " + b"[" * 5000 + b"]" * 5000)
@example(b"\xff\xfe")
def test_fuzz_config_text(raw: bytes) -> None:
    with contextlib.suppress(ConfigError):
        parse_toml(raw, "fuzz.toml")


@settings.get_profile(PROFILE)  # type: ignore[misc]
@given(st.text(max_size=60), st.lists(st.text(min_size=1, max_size=12), max_size=3))
@example("Office\x7f", ["x\x1b[31m"])
def test_fuzz_settings_round_trip(name: str, ssids: list[str]) -> None:
    settings_doc = {"facility": {"name": name, "ssids": [{"name": s, "role": "guest"}
                                                         for s in ssids]}}
    back = tomllib.loads(dump_settings(settings_doc))
    assert back["facility"]["name"] == name
    assert [s["name"] for s in back["facility"].get("ssids", [])] == ssids
