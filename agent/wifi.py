"""The Wi-Fi sensor's state: one aggregate per BSSID, floods, and the events rules decide on.

Pure: beacons and deauthentications in, events out. An AP becomes an event only after sustained
evidence (`min_frames` frames with the same security profile), never from a single stray frame;
a flood is one event when it starts and a reminder every minute while it lasts, never one per
frame. Memory is bounded: unconfirmed APs are evicted first, and a beacon flood's fake APs never
become confirmed.

Beacon floods: a BSSID with the group (multicast) bit set is impossible for an AP, so it never
enters the inventory; it only counts as flood evidence. A flood is a burst of new BSSIDs (more
than `beacon_flood_new_bssids` first heard within `beacon_flood_window_s`) of which at least half
are suspect. A new BSSID is judged `beacon_flood_judge_s` after it was first heard, not at once:
a channel-hopping sensor hears a real AP only while on its channel, so a dense site starting up
looks like hundreds of APs with a beacon or two each. Suspect is impossible, or short-lived: not
heard again over more than a quarter of that delay, which is what a flood tool's fakes are (a few
beacons within a fraction of a second, then never again) and a real AP is not, whatever its
address (multi-SSID APs use locally administered ones). The judging runs on every new BSSID and
on `tick`, so a burst that stopped is found too. When a flood is found, the suspects of the last
`flood_hold_s` and every AP still too young to judge are withdrawn from the inventory
(`take_withdrawn`), and every AP first seen during the flood is held back until it has beaconed
for `flood_hold_s`: real APs outlive a flood's fakes.
"""

from __future__ import annotations

import contextlib
import itertools
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from agent.events import WifiDetail, WifiEventKind
from agent.oui import is_randomized
from agent.parsers.dot11 import (
    SUBTYPE_BEACON,
    BeaconSeen,
    DeauthSeen,
    band_and_freq,
    is_hidden,
    pmf_of,
    security_label,
)

SECURITY_RANK = {"OPEN": 0, "WEP": 1, "OWE": 2, "WPA": 2, "WPA-Enterprise": 3, "WPA/WPA2": 3,
                 "WPA/WPA2-Enterprise": 4, "WPA2": 4, "WPA2-Enterprise": 5, "WPA2/WPA3": 5,
                 "WPA3": 6, "WPA3-Enterprise": 7}

AP_CONFIRMED = WifiEventKind.AP_CONFIRMED
AP_CHANGED = WifiEventKind.AP_CHANGED
DEAUTH_FLOOD = WifiEventKind.DEAUTH_FLOOD
BEACON_FLOOD = WifiEventKind.BEACON_FLOOD
WIFI_EVENT_KINDS: tuple[WifiEventKind, ...] = tuple(WifiEventKind)


_WEAK = ("OPEN", "WEP")
_ESTABLISHED = 10  # beacons: about one second of a real AP's beaconing
# A new BSSID is judged this long after it was first heard, at the least: longer than a flood
# tool's fakes live (a few beacons within a fraction of a second) and than a hop cycle of a
# sensor on few channels. It is suspect when it was not heard again over more than this share
# of that delay.
FLOOD_JUDGE_MIN_S = 5.0
_SHORT_LIVED_SHARE = 0.25
_DEAUTH_SWEEP_S = 10.0  # ended deauthentication floods are forgotten this often
_NOTHING: list[Any] = []  # returned, never mutated: the pipeline only iterates events


@dataclass(slots=True)
class Derived:
    """What one distinct beacon content says, computed once; read-only once made (not frozen:
    a frozen dataclass's __init__ costs about 90 ns a field, and one is made for every new
    content of every AP; unhashable, so it cannot become a key by mistake)."""

    malformed: bool
    hidden: bool
    ssid: bytes | None
    channel: int | None
    channel_ie: bool
    band: str | None
    frequency_mhz: int | None
    privacy: bool
    security: str
    pmf: str
    pairwise: tuple[int, ...]
    akm: tuple[int, ...]
    group_cipher: int | None
    wps: Any
    country: str | None
    tx_power_dbm: int | None
    country_max_dbm: int | None
    ht: bool
    vht: bool
    he: bool
    profile: str | None


def _derive(b: BeaconSeen) -> Derived:
    e = b.elements
    hidden = is_hidden(e.ssid)
    security = security_label(b.privacy, e.rsn, e.wpa)
    suites = e.rsn or e.wpa
    pmf = pmf_of(e.rsn)
    band, freq = band_and_freq(b)
    profile = None
    if b.subtype == SUBTYPE_BEACON:
        profile = "|".join((
            security,
            ",".join(map(str, suites.pairwise)) if suites else "",
            ",".join(map(str, suites.akm)) if suites else "",
            f"pmf={pmf}", f"bi={b.interval}", "hidden" if hidden else "named"))
    return Derived(
        # an SSID element over 32 bytes is not an SSID (IEEE 802.11): the frame counts as
        # malformed, like one whose elements do not add up
        malformed=e.malformed or (e.ssid is not None and len(e.ssid) > 32), hidden=hidden,
        ssid=e.ssid, channel=b.channel,
        channel_ie=e.ds_channel is not None or e.ht_primary is not None, band=band,
        frequency_mhz=freq, privacy=b.privacy, security=security, pmf=pmf,
        pairwise=suites.pairwise if suites else (), akm=suites.akm if suites else (),
        group_cipher=suites.group if suites else None, wps=e.wps, country=e.country,
        tx_power_dbm=e.tpc_tx_power_dbm, country_max_dbm=e.country_max_dbm,
        ht=e.ht, vht=e.vht, he=e.he, profile=profile)


@dataclass(frozen=True, slots=True)
class WifiSettings:
    min_frames: int = 3
    deauth_flood_per_s: int = 10
    flood_quiet_s: float = 60.0
    beacon_flood_new_bssids: int = 50
    beacon_flood_window_s: float = 10.0
    flood_hold_s: float = 60.0
    # how long a new BSSID is watched before it is judged (see flood_judge_s)
    beacon_flood_judge_s: float = FLOOD_JUDGE_MIN_S
    max_aps: int = 10000


def flood_judge_s(hop_cycle_s: float) -> float:
    """How long to watch a new BSSID before judging it, for a sensor that hops through its
    channels in HOP_CYCLE_S (0: one fixed channel): a real AP is heard again a cycle later, so
    two cycles, and never less than FLOOD_JUDGE_MIN_S."""
    return max(FLOOD_JUDGE_MIN_S, 2.0 * hop_cycle_s)


@dataclass(frozen=True, slots=True)
class ApSnapshot:
    """A read-only picture of one AP for the rules."""

    bssid: str
    ssid: str
    ssid_hex: str
    hidden: bool
    channel: int | None
    channels: tuple[int, ...]
    band: str | None
    security: str
    profiles: tuple[str, ...]  # every beacon profile seen with sustained evidence, in order
    conflict: bool  # an older profile came back: two transmitters on one BSSID
    pairwise: tuple[int, ...]
    akm: tuple[int, ...]
    group_cipher: int | None
    pmf: str
    wps: dict[str, Any] | None
    vendor: str | None
    randomized: bool
    rssi_mean: float | None
    rssi_samples: int
    tx_power_dbm: int | None
    country_max_dbm: int | None
    ssid_secured_elsewhere: bool  # another BSSID broadcasts this SSID with encryption


@dataclass(frozen=True, slots=True)
class WifiEventSeen:
    kind: WifiEventKind
    ts: float
    subject: str
    ap: ApSnapshot | None = None
    detail: WifiDetail = field(default_factory=lambda: WifiDetail())


@dataclass(slots=True)
class ApAgg:
    bssid: str
    first_seen: float
    last_seen: float
    vendor: str | None
    randomized: bool
    ssid: bytes = b""
    hidden: bool = True
    beacon_hidden: bool = False
    channel: int | None = None
    band: str | None = None
    frequency_mhz: int | None = None
    privacy: bool = False
    security: str = "OPEN"
    pmf: str = "none"
    pairwise: tuple[int, ...] = ()
    akm: tuple[int, ...] = ()
    group_cipher: int | None = None
    wps: Any = None
    country: str | None = None
    tx_power_dbm: int | None = None
    country_max_dbm: int | None = None
    ht: bool = False
    vht: bool = False
    he: bool = False
    rssi_min: int | None = None
    rssi_max: int | None = None
    rssi_sum: int = 0
    rssi_n: int = 0
    rssi_last: int | None = None
    beacons: int = 0
    probe_responses: int = 0
    malformed: int = 0
    profile_counts: dict[str, int] = field(default_factory=dict)
    profiles: list[str] = field(default_factory=list)  # confirmed profiles, in order
    channel_counts: dict[int, int] = field(default_factory=dict)
    channels: list[int] = field(default_factory=list)  # confirmed channels, in order
    confirmed: bool = False
    conflict: bool = False
    secured_key: bytes | None = None
    keys: list[Any] = field(default_factory=lambda: [None, None])
    derived: list[Any] = field(default_factory=lambda: [None, None])
    current: Any = None
    fast: list[Any] = field(default_factory=lambda: [None, None])
    # keys holds per slot (beacon, probe response) the content last seen (BeaconSeen.content
    # and the frequency); quick_* is that key while its frames only count (not malformed), and
    # the pipeline's hot loop counts a frame repeating it with count_frame, without this class.
    quick_beacon: tuple[bytes, bytes | None, int | None] | None = None
    quick_probe: tuple[bytes, bytes | None, int | None] | None = None
    wps_changed_at: float = 0.0
    flood: bool = False
    dirty: bool = True
    changed: bool = True  # more than its counters changed since it was last written (or never)
    written: tuple[int, ...] = ()  # the counters the store already holds (Pipeline.flush)

    @property
    def rssi_mean(self) -> float | None:
        return self.rssi_sum / self.rssi_n if self.rssi_n else None


def _wps_key(w: Any) -> tuple[Any, ...] | None:
    return None if w is None else (w.state, w.locked)


def wps_json(w: Any) -> dict[str, Any] | None:
    if w is None:
        return None
    return {
        "version": w.version,
        "state": {1: "unconfigured", 2: "configured"}.get(w.state) if w.state else None,
        "locked": w.locked,
        "manufacturer": w.manufacturer,
        "model_name": w.model_name,
        "model_number": w.model_number,
        "device_name": w.device_name,
    }


def count_frame(ap: ApAgg, ts: float, beacon: bool, sig: int | None) -> None:
    """One more frame of AP: what every beacon and probe response changes (and all that a
    repeated one changes: see `WifiState._set_quick`)."""
    ap.dirty = True
    if ts > ap.last_seen:  # first_seen <= last_seen: a later frame is not an earlier one
        ap.last_seen = ts
    elif ts < ap.first_seen:
        ap.first_seen = ts
    if beacon:
        ap.beacons += 1
    else:
        ap.probe_responses += 1
    if sig is not None:
        ap.rssi_n += 1
        ap.rssi_sum += sig
        ap.rssi_last = sig
        lo, hi = ap.rssi_min, ap.rssi_max
        if lo is None or sig < lo:
            ap.rssi_min = sig
        if hi is None or sig > hi:
            ap.rssi_max = sig


@dataclass(slots=True)
class _Flood:
    second: int = -1
    in_second: int = 0
    active: bool = False
    started: float = 0.0
    last_ts: float = 0.0
    last_report: float = 0.0
    total: int = 0
    impossible: int = 0
    sources: set[str] = field(default_factory=set)
    reasons: dict[int, int] = field(default_factory=dict)


class WifiState:
    def __init__(self, settings: WifiSettings,
                 vendor_of: Callable[[str], str | None] = lambda _m: None) -> None:
        self.s = settings
        self.vendor_of = vendor_of
        self.aps: dict[str, ApAgg] = {}
        self.by_raw: dict[bytes, ApAgg] = {}  # the same APs by their six address bytes (put)
        self.by_ssid: dict[bytes, set[str]] = {}
        self.secured: dict[bytes, set[str]] = {}
        self._deauth: dict[str, _Flood] = {}
        # New BSSIDs waiting to be judged: (first seen, bssid, impossible, odd), where odd is
        # impossible or locally administered; then the judged ones of the flood window:
        # (first seen, bssid, suspect, odd), with running counts; and the suspects judged
        # within flood_hold_s, withdrawn when a flood is declared (bounded).
        self._pending: deque[tuple[float, str, bool, bool]] = deque()
        self._judged: deque[tuple[float, str, bool, bool]] = deque()
        self._judged_suspects = self._judged_odd = 0
        self._suspects: deque[tuple[float, str]] = deque(maxlen=settings.max_aps)
        self._impossible: dict[str, float] = {}  # group-bit BSSIDs seen lately (bounded)
        self._withdrawn: list[str] = []
        self._bflood = _Flood()
        self._deauth_swept = 0.0
        self.deauth_frames = 0
        self.impossible_frames = 0

    def put(self, ap: ApAgg) -> None:
        """A new AP in the table (and in `by_raw`, the hot loop's index by address bytes; an
        address that is not six hex bytes, from a damaged store, is left out of it: its frames
        take the whole path)."""
        self.aps[ap.bssid] = ap
        with contextlib.suppress(ValueError):
            self.by_raw[bssid_bytes(ap.bssid)] = ap

    # -- beacons and probe responses --------------------------------------------------------
    def observe_beacon(self, b: BeaconSeen) -> list[WifiEventSeen]:
        ap = self.aps.get(b.bssid)
        out: list[WifiEventSeen] | None = None  # made only when needed: most frames need none
        if ap is None:
            out = []
            if int(b.bssid[:2], 16) & 0x01:  # group bit: no AP can send this
                self._note_impossible(b.ts, b.bssid, out)
                return out
            if len(self.aps) >= self.s.max_aps:
                self._evict()
            ap = ApAgg(b.bssid, b.ts, b.ts, self.vendor_of(b.bssid), is_randomized(b.bssid))
            self.put(ap)
            self._note_new(b.ts, b.bssid, ap, out)
        ts = b.ts
        beacon = b.subtype == SUBTYPE_BEACON
        count_frame(ap, ts, beacon, b.radio.signal_dbm)
        # Everything derived from the frame's content is computed once per distinct content
        # (the parser returns the same Elements object for the same elements) and reused.
        slot = 0 if beacon else 1
        k = ap.keys[slot]
        pre, suf = b.content
        freq = b.radio.frequency_mhz
        if k is not None and k[2] == freq and k[0] == pre and k[1] == suf:
            d = ap.derived[slot]
        else:
            d = _derive(b)
            k = ap.keys[slot] = (pre, suf, freq)
            ap.derived[slot] = d
            self._set_quick(ap, beacon, None)  # another content: the hot loop's copy is void
        if d.malformed:
            ap.malformed += 1
        if d is ap.fast[slot] and not (ap.flood and ts - ap.first_seen >= self.s.flood_hold_s):
            if not d.malformed:
                self._set_quick(ap, beacon, k)
            return _NOTHING  # nothing new: the common case, counters only
        ap.changed = True
        if out is None:
            out = []
        changes: list[str] = []
        if beacon:
            ap.beacon_hidden = d.hidden
        if not d.hidden and d.ssid is not None and d.ssid != ap.ssid:
            if ap.ssid:
                members = self.by_ssid.get(ap.ssid)
                if members is not None:
                    members.discard(ap.bssid)
                    if not members:
                        del self.by_ssid[ap.ssid]
            if ap.confirmed:
                changes.append("ssid")
            ap.ssid = d.ssid
            self.by_ssid.setdefault(d.ssid, set()).add(ap.bssid)
        ch = d.channel
        if ch is not None:
            cc = ap.channel_counts
            n = cc.get(ch, 0) + 1
            if len(cc) < 32 or ch in cc:
                cc[ch] = n
            if n >= self.s.min_frames and ch not in ap.channels:
                ap.channels.append(ch)
                if len(ap.channels) > 1 and ap.confirmed:
                    changes.append("channel")
            if ap.channel != ch and (d.channel_ie or ap.channel is None):
                ap.channel, ap.band, ap.frequency_mhz = ch, d.band, d.frequency_mhz
            elif ap.band is None:
                ap.band, ap.frequency_mhz = d.band, d.frequency_mhz
        profile = d.profile
        if profile is not None:
            # What one transmitter says in every beacon: its security, beacon interval and
            # whether it hides its name. An older profile coming back after a newer one was
            # confirmed means two transmitters share the BSSID (a reconfiguration does not go
            # back and forth); a newer, weaker profile is a downgrade (Kismet's CRYPTODROP).
            pc = ap.profile_counts
            if profile in ap.profiles:
                if profile != ap.profiles[-1] and not ap.conflict:
                    ap.conflict = True
                    if ap.confirmed:
                        changes.append("conflict")
            else:
                n = pc.get(profile, 0) + 1
                if len(pc) < 16 or profile in pc:
                    pc[profile] = n
                if n >= self.s.min_frames:
                    ap.profiles.append(profile)
                    if len(ap.profiles) > 1 and ap.confirmed:
                        changes.append("profile")
        if (beacon or ap.beacons == 0) and ap.current is not d:
            ap.current = d
            if ap.confirmed and _wps_key(d.wps) != _wps_key(ap.wps) and (
                    ts - ap.wps_changed_at >= 60):
                ap.wps_changed_at = ts
                changes.append("wps")
            ap.privacy, ap.security, ap.pmf = d.privacy, d.security, d.pmf
            ap.pairwise, ap.akm, ap.group_cipher = d.pairwise, d.akm, d.group_cipher
            ap.wps = d.wps
            ap.country = d.country or ap.country
            if d.tx_power_dbm is not None:
                ap.tx_power_dbm = d.tx_power_dbm
            ap.country_max_dbm = d.country_max_dbm or ap.country_max_dbm
            ap.ht, ap.vht, ap.he = d.ht, d.vht, d.he
        # Hidden is what the AP's first sustained transmitter does, so a spoofer's hidden
        # beacons on the same BSSID cannot flip it.
        primary_hidden = ap.profiles[0].endswith("|hidden") if ap.profiles else ap.beacon_hidden
        ap.hidden = primary_hidden or not ap.ssid
        sustained = bool(ap.profiles) or (
            ap.beacons == 0 and ap.probe_responses >= self.s.min_frames)
        if (ap.flood and ts - ap.first_seen >= self.s.flood_hold_s
                and ap.beacons + ap.probe_responses >= self.s.min_frames):
            ap.flood = False  # it outlived the flood: a real AP that appeared during it
            ap.dirty = True
        if not ap.confirmed and not ap.flood and sustained:
            ap.confirmed = True
            first_secured = self._reindex(ap)
            out.append(WifiEventSeen(AP_CONFIRMED, ts, ap.bssid, self.snapshot(ap)))
            if first_secured:
                out.extend(self._twins_changed(ap, ts))
        elif changes:
            first_secured = self._reindex(ap)
            out.append(WifiEventSeen(AP_CHANGED, ts, ap.bssid, self.snapshot(ap),
                                     {"changes": changes}))
            if first_secured:
                out.extend(self._twins_changed(ap, ts))
        # Confirmed (now or before), or held back by a flood (its release is checked above):
        # while the content stays the same, frames only count; nothing above would change.
        if ((ap.confirmed or ap.flood) and not changes
                and (d.profile is None or (ap.profiles and d.profile == ap.profiles[-1]))
                and (d.channel is None or (d.channel == ap.channel and d.channel in ap.channels))
                and (d.hidden or d.ssid == ap.ssid) and (not beacon or ap.current is d)):
            ap.fast[slot] = d  # until something differs, frames of this content only count
            if not d.malformed:
                self._set_quick(ap, beacon, ap.keys[slot])
        return out

    @staticmethod
    def _set_quick(ap: ApAgg, beacon: bool, key: tuple[bytes, bytes | None, int | None] | None
                   ) -> None:
        """The content whose repeats the pipeline's hot loop may count without this class
        (`count_frame`, all that `observe_beacon` does for them), or None."""
        if beacon:
            ap.quick_beacon = key
        else:
            ap.quick_probe = key

    def _reindex(self, ap: ApAgg) -> bool:
        """Keep the per-SSID set of confirmed, encrypted BSSIDs (for open-twin checks).

        True when this AP is the first encrypted one of its SSID: only then do open APs of the
        same name become twins, so only then are they re-examined (no n² storms when many APs
        share a name)."""
        want = ap.ssid if (ap.confirmed and ap.ssid and ap.security not in _WEAK) else None
        first = False
        if ap.secured_key != want:
            if ap.secured_key is not None:
                old = self.secured.get(ap.secured_key)
                if old is not None:
                    old.discard(ap.bssid)
                    if not old:
                        del self.secured[ap.secured_key]
            if want is not None:
                s = self.secured.setdefault(want, set())
                first = not s
                s.add(ap.bssid)
            ap.secured_key = want
        return first

    def _twins_changed(self, ap: ApAgg, ts: float) -> list[WifiEventSeen]:
        """Other APs of the same SSID whose 'secured elsewhere' fact may just have changed."""
        out = []
        for other in self.by_ssid.get(ap.ssid, ()):
            o = self.aps.get(other)
            if o is None or o is ap or not o.confirmed or o.security not in ("OPEN", "WEP"):
                continue
            if ap.security not in ("OPEN", "WEP"):
                out.append(WifiEventSeen(AP_CHANGED, ts, o.bssid, self.snapshot(o),
                                         {"changes": ["twin"]}))
        return out

    def snapshot(self, ap: ApAgg) -> ApSnapshot:
        sec = self.secured.get(ap.ssid) if ap.ssid else None
        secured_elsewhere = sec is not None and (len(sec) > 1 or (
            len(sec) == 1 and ap.bssid not in sec))
        return ApSnapshot(
            bssid=ap.bssid, ssid=ssid_text(ap.ssid), ssid_hex=ap.ssid.hex(), hidden=ap.hidden,
            channel=ap.channel, channels=tuple(ap.channels), band=ap.band,
            security=ap.security, profiles=tuple(ap.profiles), conflict=ap.conflict,
            pairwise=ap.pairwise,
            akm=ap.akm, group_cipher=ap.group_cipher, pmf=ap.pmf, wps=wps_json(ap.wps),
            vendor=ap.vendor, randomized=ap.randomized, rssi_mean=ap.rssi_mean,
            rssi_samples=ap.rssi_n, tx_power_dbm=ap.tx_power_dbm,
            country_max_dbm=ap.country_max_dbm, ssid_secured_elsewhere=secured_elsewhere,
        )

    # -- floods -----------------------------------------------------------------------------
    def _note_impossible(self, ts: float, bssid: str, out: list[WifiEventSeen]) -> None:
        self.impossible_frames += 1
        imp = self._impossible
        if bssid in imp:
            imp[bssid] = ts
            return
        if len(imp) >= 4096:  # bounded: forget the oldest half
            for k in list(imp)[:2048]:
                del imp[k]
        imp[bssid] = ts
        self._bflood.impossible += 1
        self._note_new(ts, bssid, None, out)

    def _note_new(self, ts: float, bssid: str, ap: ApAgg | None,
                  out: list[WifiEventSeen]) -> None:
        f = self._bflood
        if f.active:
            if ap is not None:
                ap.flood = True  # held back until it outlives the flood
            f.total += 1
            f.last_ts = ts
            if ts - f.last_report >= 60:
                f.last_report = ts
                out.append(WifiEventSeen(BEACON_FLOOD, ts, "beacon-flood", detail=self._bf(f)))
            return
        p = self._pending
        if p and ts < p[-1][0] - self.s.beacon_flood_window_s:  # the clock went back: start over
            self._reset_burst()
        odd = ap is None or ap.randomized  # impossible (group bit) or locally administered
        p.append((ts, bssid, ap is None, odd))
        self._judge(ts, out)

    def _short_lived(self, bssid: str, impossible: bool) -> bool:
        """Suspect: impossible (group bit), or not heard again after its first short burst
        within the judging delay (or evicted meanwhile: no longer known)."""
        if impossible:
            return True
        a = self.aps.get(bssid)
        return a is None or a.last_seen - a.first_seen < (
            self.s.beacon_flood_judge_s * _SHORT_LIVED_SHARE)

    def _judge(self, now: float, out: list[WifiEventSeen]) -> None:
        """Judge the new BSSIDs first seen at least `beacon_flood_judge_s` ago, one by one in
        the order they appeared (so how often this runs does not matter), and declare a flood
        when the window of judged ones ending with one of them is a burst of mostly suspects."""
        s, p, j, sus = self.s, self._pending, self._judged, self._suspects
        cut = now - s.beacon_flood_judge_s
        if not p or (p[0][0] > cut and len(p) <= s.max_aps):
            return
        # bounded: beyond max_aps waiting (more new BSSIDs within the delay than any real site
        # shows), the oldest are judged on what is known of them so far
        while p and (p[0][0] <= cut or len(p) > s.max_aps):
            t, b, impossible, odd = p.popleft()
            suspect = self._short_lived(b, impossible)
            j.append((t, b, suspect, odd))
            self._judged_suspects += suspect
            self._judged_odd += odd
            if suspect:
                sus.append((t, b))
            while j[0][0] < t - s.beacon_flood_window_s:
                _t, _b, old_suspect, old_odd = j.popleft()
                self._judged_suspects -= old_suspect
                self._judged_odd -= old_odd
            n = len(j)
            if n > s.beacon_flood_new_bssids and self._judged_suspects * 2 >= n:
                self._declare(now, out)
                return
        while sus and sus[0][0] < cut - s.flood_hold_s:
            sus.popleft()

    def _declare(self, now: float, out: list[WifiEventSeen]) -> None:
        j, p, n = self._judged, self._pending, len(self._judged)
        f = self._bflood
        f.active, f.started, f.last_ts, f.last_report = True, j[0][0], now, now
        f.total = n + len(p)
        # Withdraw the young suspects of the last flood_hold_s and every young AP too new to
        # judge; a real one among them is released again once it outlives the flood
        # (flood_hold_s). One with about a second of beacons is no flood tool's fake.
        for b in itertools.chain((b for _t, b in self._suspects), (b for _t, b, _i, _o in p)):
            a = self.aps.get(b)
            if a is not None and not a.flood and a.beacons + a.probe_responses < _ESTABLISHED:
                a.flood = True
                self._withdrawn.append(b)
        out.append(WifiEventSeen(BEACON_FLOOD, now, "beacon-flood", detail={
            **self._bf(f), "suspect_share": round(self._judged_suspects / n, 2),
            "odd_share": round(self._judged_odd / n, 2)}))
        self._reset_burst()

    def _reset_burst(self) -> None:
        self._pending.clear()
        self._judged.clear()
        self._suspects.clear()
        self._judged_suspects = self._judged_odd = 0

    def _bf(self, f: _Flood) -> WifiDetail:
        return {"new_bssids": f.total, "window_s": self.s.beacon_flood_window_s,
                "impossible_bssids": f.impossible, "started": f.started, "last": f.last_ts}

    def tick(self, now: float) -> list[WifiEventSeen]:
        """Judge the new BSSIDs that have waited long enough (so a burst that stopped is still
        found) and end floods after a quiet period (called with frame or wall time); returns
        the events, a beacon flood's at most."""
        out: list[WifiEventSeen] = []
        if self._bflood.active and now - self._bflood.last_ts > self.s.flood_quiet_s:
            self._bflood = _Flood()
        if not self._bflood.active:
            self._judge(now, out)
        # every few seconds at most: ingest ticks every 2,000 frames, and a busy capture has a
        # deauthentication record for thousands of BSSIDs
        if not 0 <= now - self._deauth_swept < _DEAUTH_SWEEP_S:
            self._end_deauth_floods(now)
        return out

    def _end_deauth_floods(self, now: float) -> None:
        self._deauth_swept = now
        for bssid, f in list(self._deauth.items()):
            if now - f.last_ts > self.s.flood_quiet_s:
                del self._deauth[bssid]

    def observe_deauth(self, d: DeauthSeen) -> list[WifiEventSeen]:
        self.deauth_frames += 1
        target = d.bssid
        f = self._deauth.get(target)
        if f is None:
            if len(self._deauth) >= self.s.max_aps:
                self._end_deauth_floods(d.ts)
                if len(self._deauth) >= self.s.max_aps:
                    return []
            f = self._deauth[target] = _Flood()
        sec = int(d.ts)
        if sec != f.second:
            f.second, f.in_second = sec, 0
        f.in_second += 1
        f.total += 1
        f.last_ts = d.ts
        if len(f.sources) < 16:
            f.sources.add(d.source)
        if d.reason is not None and len(f.reasons) < 16:
            f.reasons[d.reason] = f.reasons.get(d.reason, 0) + 1
        if not f.active and f.in_second > self.s.deauth_flood_per_s:
            f.active, f.started, f.last_report = True, d.ts, d.ts
            return [self._deauth_event(d, f)]
        if f.active and d.ts - f.last_report >= 60:
            f.last_report = d.ts
            return [self._deauth_event(d, f)]
        return []

    def _deauth_event(self, d: DeauthSeen, f: _Flood) -> WifiEventSeen:
        ap = self.aps.get(d.bssid)
        return WifiEventSeen(DEAUTH_FLOOD, d.ts, d.bssid, self.snapshot(ap) if ap else None, {
            "frames": f.total, "per_second_peak": f.in_second,
            "threshold_per_s": self.s.deauth_flood_per_s, "started": f.started,
            "sources": sorted(f.sources), "reasons": {str(k): v for k, v in f.reasons.items()},
            "protected": d.protected})

    # -- memory and flushing ----------------------------------------------------------------
    def _evict(self) -> None:
        keep = self.s.max_aps * 9 // 10
        victims = sorted(self.aps.values(),
                         key=lambda a: (a.confirmed, not a.dirty, a.last_seen))
        for a in victims[: max(0, len(self.aps) - keep)]:
            if a.dirty and a.confirmed:
                continue
            del self.aps[a.bssid]
            with contextlib.suppress(ValueError):
                self.by_raw.pop(bssid_bytes(a.bssid), None)
            members = self.by_ssid.get(a.ssid)
            if members is not None:
                members.discard(a.bssid)
                if not members:
                    del self.by_ssid[a.ssid]
            if a.secured_key is not None:
                self.secured.get(a.secured_key, set()).discard(a.bssid)

    def take_withdrawn(self) -> list[str]:
        """BSSIDs found to be a flood's fakes after they may have been written: delete them."""
        out, self._withdrawn = self._withdrawn, []
        return out

    def take_dirty(self, counters: bool = True) -> list[ApAgg]:
        """APs to write: every real AP (confirmed or not), never a beacon flood's fakes. With
        COUNTERS False only those new or changed beyond their counters (an ingest's writes while
        it reads: its last write has every AP's counters, so each AP is not rewritten at every
        batch only because it beaconed)."""
        out = [a for a in self.aps.values()
               if a.dirty and not a.flood and (counters or a.changed)]
        for a in out:
            a.dirty = a.changed = False
        return out


def bssid_bytes(bssid: str) -> bytes:
    """The six bytes of a BSSID written aa:bb:cc:dd:ee:ff (as a frame carries them)."""
    return bytes.fromhex(bssid.replace(":", ""))


def ssid_text(raw: bytes) -> str:
    """An SSID as text: UTF-8 where it is, U+FFFD where it is not; NULs dropped."""
    return raw.decode("utf-8", errors="replace").replace("\x00", "")
