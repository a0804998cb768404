"""802.11 management frames: beacons, probe responses, deauthentication and disassociation.

The hot path of the Wi-Fi sensor. The fixed header is read with slicing; the tagged parameters
are decoded once per distinct byte string and cached (an AP repeats its elements beacon after
beacon, as Kismet's IE fingerprint exploits), so most beacons cost a dict lookup. Never raises
on malformed input: a truncated element ends the walk and the frame keeps what was read.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from agent.parsers.radio import RadioInfo, band_of, channel_of, freq_of

SUBTYPE_PROBE_RESP = 5
SUBTYPE_BEACON = 8
SUBTYPE_DISASSOC = 10
SUBTYPE_DEAUTH = 12

OUI_IEEE = b"\x00\x0f\xac"
OUI_MS = b"\x00\x50\xf2"

CIPHERS = {1: "WEP-40", 2: "TKIP", 4: "CCMP-128", 5: "WEP-104", 6: "BIP-CMAC-128",
           7: "NO-GROUP", 8: "GCMP-128", 9: "GCMP-256", 10: "CCMP-256", 11: "BIP-GMAC-128",
           12: "BIP-GMAC-256", 13: "BIP-CMAC-256"}
AKMS = {1: "802.1X", 2: "PSK", 3: "FT-802.1X", 4: "FT-PSK", 5: "802.1X-SHA256",
        6: "PSK-SHA256", 7: "TDLS", 8: "SAE", 9: "FT-SAE", 10: "AP-PEER-KEY",
        11: "802.1X-SuiteB", 12: "802.1X-SuiteB-192", 13: "FT-802.1X-SHA384",
        14: "FILS-SHA256", 15: "FILS-SHA384", 16: "FT-FILS-SHA256", 17: "FT-FILS-SHA384",
        18: "OWE", 19: "FT-PSK-SHA384", 20: "PSK-SHA384", 24: "SAE-EXT-KEY",
        25: "FT-SAE-EXT-KEY"}
AKM_PSK = frozenset({2, 4, 6, 19, 20})
AKM_SAE = frozenset({8, 9, 24, 25})
AKM_ENTERPRISE = frozenset({1, 3, 5, 11, 12, 13, 14, 15, 16, 17})
AKM_WPA3_ENTERPRISE = frozenset({12, 13})
AKM_OWE = frozenset({18})


@dataclass(frozen=True, slots=True)
class CipherSuites:
    """RSN or WPA1 suites. Suite types are the IEEE / Microsoft numbers (tshark's `.type`)."""

    group: int | None
    pairwise: tuple[int, ...]
    akm: tuple[int, ...]
    mfpc: bool = False
    mfpr: bool = False


@dataclass(frozen=True, slots=True)
class WpsInfo:
    version: int | None = None
    state: int | None = None  # 1 unconfigured, 2 configured
    locked: bool | None = None
    manufacturer: str | None = None
    model_name: str | None = None
    model_number: str | None = None
    device_name: str | None = None
    password_id: int | None = None


@dataclass(slots=True)
class Elements:
    """The decoded elements of one element block; read-only once made and shared between the
    frames that carry the same block (not frozen for the cost of its __init__: see
    `agent.wifi.Derived`)."""

    ssid: bytes | None = None
    ds_channel: int | None = None
    ht_primary: int | None = None
    country: str | None = None
    rsn: CipherSuites | None = None
    wpa: CipherSuites | None = None
    wps: WpsInfo | None = None
    power_constraint_db: int | None = None
    tpc_tx_power_dbm: int | None = None
    country_max_dbm: int | None = None
    ht: bool = False
    vht: bool = False
    he: bool = False
    qbss_stations: int | None = None
    qbss_utilization: int | None = None
    malformed: bool = False


class BeaconSeen:
    """A beacon or probe response: what one AP said about itself in one frame.

    `content` is the frame from the beacon interval on, in two pieces cut around the TIM
    (which changes from beacon to beacon and is not used): the interval, the capabilities and
    the elements before the TIM, then the elements after it (None when there is no TIM). Two
    beacons of one AP with the same content are the same apart from their timestamp, sequence
    number and TIM. `ies` (the elements without the TIM) are decoded into `elements` only when
    someone asks (the Wi-Fi state asks once per distinct content per AP).
    """

    __slots__ = ("ts", "subtype", "bssid", "privacy", "interval", "content", "radio",
                 "_elements")

    def __init__(self, ts: float, subtype: int, bssid: str, privacy: bool, interval: int,
                 content: tuple[bytes, bytes | None], radio: RadioInfo) -> None:
        self.ts = ts
        self.subtype = subtype
        self.bssid = bssid
        self.privacy = privacy
        self.interval = interval
        self.content = content
        self.radio = radio
        self._elements: Elements | None = None

    @property
    def ies(self) -> bytes:
        pre, suf = self.content
        return pre[4:] if suf is None else pre[4:] + suf

    @property
    def elements(self) -> Elements:
        if self._elements is None:
            self._elements = elements_cached(self.ies)
        return self._elements

    @property
    def channel(self) -> int | None:
        e = self.elements
        return e.ds_channel or e.ht_primary or channel_of(self.radio.frequency_mhz)

    def __repr__(self) -> str:
        return f"BeaconSeen(ts={self.ts}, subtype={self.subtype}, bssid={self.bssid!r})"


@dataclass(slots=True)
class DeauthSeen:  # read-only once made; one per deauthentication (see Elements: not frozen)
    ts: float
    subtype: int
    source: str
    destination: str
    bssid: str
    reason: int | None
    protected: bool
    radio: RadioInfo


def _suite(b: bytes, oui: bytes) -> int:
    return b[3] if b[:3] == oui else -int.from_bytes(b, "big")  # vendor suites: negative


def _suite_list(body: bytes, i: int, oui: bytes, out: list[int]) -> int:
    """A count and that many 4-byte suites at offset i; returns the offset after them (past
    the end when the element is truncated, so what follows is not read)."""
    n = len(body)
    if i + 2 > n:
        return n + 1
    cnt = body[i] | (body[i + 1] << 8)
    i += 2
    for _ in range(cnt):
        if i + 4 > n:
            return n + 1
        out.append(_suite(body[i:i + 4], oui))
        i += 4
    return i


@functools.lru_cache(maxsize=256)
def _suites(body: bytes, oui: bytes) -> CipherSuites | None:
    """RSN element body (after version) or WPA1 body (after OUI/type/version). Memoised: a
    site's APs carry a handful of distinct RSN elements (the result is immutable)."""
    n = len(body)
    group = None
    pairwise: list[int] = []
    akm: list[int] = []
    caps = 0
    i = 0
    if i + 4 <= n:
        group = _suite(body[i:i + 4], oui)
        i += 4
    i = _suite_list(body, i, oui, pairwise)
    i = _suite_list(body, i, oui, akm)
    if i + 2 <= n:
        caps = body[i] | (body[i + 1] << 8)
    return CipherSuites(group, tuple(pairwise), tuple(akm), bool(caps & 0x80), bool(caps & 0x40))


def _text(b: bytes) -> str:
    return b.decode("utf-8", errors="replace").replace("\x00", "")


@functools.lru_cache(maxsize=256)
def _wps(body: bytes) -> WpsInfo:  # memoised like _suites (APs of one model repeat theirs)
    vals: dict[int, bytes] = {}
    i, n = 0, len(body)
    while i + 4 <= n:
        t = (body[i] << 8) | body[i + 1]
        ln = (body[i + 2] << 8) | body[i + 3]
        v = body[i + 4:i + 4 + ln]
        if len(v) < ln:
            break
        vals.setdefault(t, v)
        i += 4 + ln

    def byte(t: int) -> int | None:
        v = vals.get(t)
        return v[0] if v else None

    def txt(t: int) -> str | None:
        v = vals.get(t)
        return _text(v) if v else None

    pw = vals.get(0x1012)
    locked = byte(0x1057)
    return WpsInfo(
        version=byte(0x104A), state=byte(0x1044),
        locked=None if locked is None else bool(locked),
        manufacturer=txt(0x1021), model_name=txt(0x1023), model_number=txt(0x1024),
        device_name=txt(0x1011),
        password_id=((pw[0] << 8) | pw[1]) if pw and len(pw) >= 2 else None,
    )


def parse_elements(ies: bytes) -> Elements:
    ssid = None
    ds = ht_primary = country = None
    rsn = wpa = None
    wps = None
    pc = tpc = cmax = None
    ht = vht = he = False
    qs = qu = None
    malformed = False
    i, n = 0, len(ies)
    while i + 2 <= n:
        eid, ln = ies[i], ies[i + 1]
        j = i + 2
        if j + ln > n:
            malformed = True
            break
        body = ies[j:j + ln]
        if eid == 0:
            if ssid is None:
                ssid = body
        elif eid == 3:
            if ln >= 1 and ds is None:
                ds = body[0]
        elif eid == 48:
            if ln >= 2 and rsn is None:
                rsn = _suites(body[2:], OUI_IEEE)
        elif eid == 221:
            if ln >= 4 and body[:3] == OUI_MS:
                if body[3] == 1 and wpa is None and ln >= 6:
                    wpa = _suites(body[6:], OUI_MS)
                elif body[3] == 4 and wps is None:
                    wps = _wps(body[4:])
        elif eid == 61:
            if ln >= 1 and ht_primary is None:
                ht_primary = body[0]
        elif eid == 45:
            ht = True
        elif eid == 191:
            vht = True
        elif eid == 255:
            if ln >= 1 and body[0] == 35:
                he = True
        elif eid == 7:
            if ln >= 2 and country is None:
                country = _text(body[:2])
                # triplets (first channel, count, max tx power dBm) after the 3-byte string
                powers = [body[k + 2] for k in range(3, ln - 2, 3) if body[k] < 201]
                cmax = max(powers) if powers else None
        elif eid == 32:
            if ln >= 1:
                pc = body[0]
        elif eid == 35:
            if ln >= 1:
                tpc = body[0] - 256 if body[0] > 127 else body[0]
        elif eid == 11 and ln >= 3:
            qs = body[0] | (body[1] << 8)
            qu = body[2]
        i = j + ln
    if i != n and not malformed:
        malformed = True  # a dangling byte: not even an element header
    return Elements(ssid, ds, ht_primary, country, rsn, wpa, wps, pc, tpc, cmax, ht, vht, he,
                    qs, qu, malformed)


_IE_CACHE: dict[bytes, Elements] = {}
_IE_CACHE_MAX = 1024  # small: the Wi-Fi state keeps each AP's last content itself


def tim_span(frame: bytes, start: int) -> tuple[int, int] | None:
    """Where the TIM element sits among the elements from START on: (its first byte, the byte
    after it), or None when there is none to take out. The TIM comes early (after SSID, rates
    and DS), so the walk stops at the first element past it; a TIM that runs past the end is
    left in."""
    i, n = start, len(frame)
    while i + 2 <= n:
        eid = frame[i]
        if eid == 5:
            end = i + 2 + frame[i + 1]
            return (i, end) if end <= n else None
        if eid > 5:
            return None
        i += 2 + frame[i + 1]
    return None


def content_of(frame: bytes, start: int) -> tuple[bytes, bytes | None]:
    """A beacon's content from START (its beacon interval) on, cut around the TIM: see
    `BeaconSeen.content`."""
    span = tim_span(frame, start + 4)
    if span is None:
        return frame[start:], None
    return frame[start:span[0]], frame[span[1]:]


def elements_cached(ies: bytes) -> Elements:
    """Decoded elements of a TIM-free element block, memoised."""
    e = _IE_CACHE.get(ies)
    if e is None:
        e = parse_elements(ies)
        if len(_IE_CACHE) >= _IE_CACHE_MAX:
            _IE_CACHE.clear()  # bounded: a beacon flood of random elements cannot grow it
        _IE_CACHE[ies] = e
    return e


def parse_mgmt(ts: float, frame: bytes, radio: RadioInfo) -> BeaconSeen | DeauthSeen | None:
    """A bare 802.11 frame (no radio header, no FCS) → event, or None if not one we use."""
    if len(frame) < 24:
        return None
    fc0 = frame[0]
    if fc0 & 0x0F != 0:  # protocol version 0, type management
        return None
    subtype = fc0 >> 4
    fc1 = frame[1]
    hdr = 28 if fc1 & 0x80 else 24  # +HTC
    if subtype in (SUBTYPE_BEACON, SUBTYPE_PROBE_RESP):
        if len(frame) < hdr + 12:
            return None
        cap = frame[hdr + 10] | (frame[hdr + 11] << 8)
        return BeaconSeen(
            ts, subtype, frame[16:22].hex(":"), bool(cap & 0x10),
            frame[hdr + 8] | (frame[hdr + 9] << 8), content_of(frame, hdr + 8), radio,
        )
    if subtype in (SUBTYPE_DEAUTH, SUBTYPE_DISASSOC):
        reason = (frame[hdr] | (frame[hdr + 1] << 8)) if len(frame) >= hdr + 2 else None
        return DeauthSeen(ts, subtype, frame[10:16].hex(":"), frame[4:10].hex(":"),
                          frame[16:22].hex(":"), reason, bool(fc1 & 0x40), radio)
    return None


# -- classification --------------------------------------------------------------------------

def is_hidden(ssid: bytes | None) -> bool:
    return ssid is None or len(ssid) == 0 or ssid.count(0) == len(ssid)


def security_label(privacy: bool, rsn: CipherSuites | None, wpa: CipherSuites | None) -> str:
    """The security of a BSS as people say it: OPEN, WEP, WPA, WPA2, WPA3, WPA2/WPA3, OWE,
    WPA/WPA2 (both elements) and the -Enterprise variants."""
    if rsn is not None and rsn.akm:
        akm = set(rsn.akm)
        if akm & AKM_OWE and not akm - AKM_OWE:
            return "OWE"
        sae, psk, ent = bool(akm & AKM_SAE), bool(akm & AKM_PSK), bool(akm & AKM_ENTERPRISE)
        if ent and not (sae or psk):
            if akm <= AKM_WPA3_ENTERPRISE or (rsn.mfpr and akm <= {5, 12, 13}):
                return "WPA3-Enterprise"
            return "WPA/WPA2-Enterprise" if wpa is not None else "WPA2-Enterprise"
        if sae and psk:
            return "WPA2/WPA3"
        if sae:
            return "WPA3"
        if psk:
            return "WPA/WPA2" if wpa is not None else "WPA2"
        return "WPA2"
    if rsn is not None:
        return "WPA2"
    if wpa is not None:
        return "WPA-Enterprise" if wpa.akm and set(wpa.akm) == {1} else "WPA"
    return "WEP" if privacy else "OPEN"


def pmf_of(rsn: CipherSuites | None) -> str:
    if rsn is None:
        return "none"
    if rsn.mfpr:
        return "required"
    return "capable" if rsn.mfpc else "none"


def band_and_freq(b: BeaconSeen) -> tuple[str | None, int | None]:
    ch = b.channel
    band = band_of(b.radio.frequency_mhz, ch)
    if ch is not None and band is not None:
        return band, freq_of(ch, band)
    return band, b.radio.frequency_mhz

