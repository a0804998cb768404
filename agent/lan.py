"""The LAN sensor's state: an arpwatch-class station table that turns ARP packets into events.

Pure: ARP packets in, events out, station aggregates kept in memory until the pipeline flushes
them. No sockets and no SQLite here; the live socket and the capture reader both feed `observe`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from agent import events as ev
from agent.oui import is_randomized
from agent.parsers.arp import OP_REQUEST, ArpSeen

HISTORY = 8  # MACs remembered per IP for flip-flop / reused detection
PROBE_GRACE_S = 15.0  # a claim this soon after the same MAC's RFC 5227 probe is a handover


@dataclass(frozen=True, slots=True)
class LanSettings:
    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    gateways: frozenset[str] = frozenset()
    poisoning_window_s: float = 3600.0
    new_activity_after_s: float = 7 * 86400.0
    max_stations: int = 16384


@dataclass(slots=True)
class StationAgg:
    ip: str
    mac: str
    vendor: str | None
    randomized: bool
    first_seen: float
    last_seen: float
    frames: int = 0
    dirty: bool = True
    written: int = 0  # frames the store already counts for this station (see Pipeline.flush)


@dataclass(slots=True)
class _IpState:
    mac: str
    history: list[str] = field(default_factory=list)  # oldest first, current last
    last_claim: dict[str, float] = field(default_factory=dict)


def _is_broadcastish(mac: str) -> bool:
    return mac in ("ff:ff:ff:ff:ff:ff", "00:00:00:00:00:00") or bool(int(mac[:2], 16) & 1)


class LanState:
    def __init__(
        self, settings: LanSettings, vendor_of: Callable[[str], str | None] = lambda _m: None
    ) -> None:
        self.settings = settings
        self.vendor_of = vendor_of
        self.stations: dict[tuple[str, str], StationAgg] = {}
        self.ips: dict[str, _IpState] = {}
        self._noted: set[tuple[str, str, str]] = set()  # one-off events already emitted
        self._probes: dict[tuple[str, str], float] = {}  # (ip, mac) -> time of last probe

    # -- restoring what the store already knows ---------------------------------------------
    def restore(self, rows: Iterable[dict[str, object]]) -> None:
        for r in sorted(rows, key=lambda r: float(r["last_seen"])):  # type: ignore[arg-type]
            ip, mac = str(r["ip"]), str(r["mac"])
            agg = StationAgg(
                ip, mac, r.get("vendor") or None, bool(r.get("randomized")),  # type: ignore[arg-type]
                float(r["first_seen"]), float(r["last_seen"]),  # type: ignore[arg-type]
                int(r.get("frames") or 0), dirty=False,  # type: ignore[call-overload]
            )
            agg.written = agg.frames
            self.stations[(ip, mac)] = agg
            if ip != "0.0.0.0":
                st = self.ips.get(ip)
                if st is None:
                    st = self.ips[ip] = _IpState(mac)
                self._set_owner(st, mac, agg.last_seen)

    # -- the state machine ------------------------------------------------------------------
    def observe(self, arp: ArpSeen) -> list[ev.LanEventSeen]:
        out: list[ev.LanEventSeen] = []
        ts, ip, mac = arp.ts, arp.sender_ip, arp.sender_mac
        key = (ip, mac)
        agg = self.stations.get(key)
        if agg is None:
            agg = StationAgg(ip, mac, self.vendor_of(mac), is_randomized(mac), ts, ts)
            self.stations[key] = agg
            is_new_pair = True
        else:
            is_new_pair = False
            if ts - agg.last_seen > self.settings.new_activity_after_s:
                out.append(ev.LanEventSeen(ev.NEW_ACTIVITY, ts, ip, mac, detail={
                    "silent_for_s": round(ts - agg.last_seen, 3)}))
        agg.frames += 1
        agg.first_seen = min(agg.first_seen, ts)
        agg.last_seen = max(agg.last_seen, ts)
        agg.dirty = True

        if arp.probe and arp.target_ip != "0.0.0.0":
            if len(self._probes) > self.settings.max_stations:
                self._probes.clear()
            self._probes[(arp.target_ip, mac)] = ts
        if ip != "0.0.0.0":
            self._claim(arp, out, is_new_pair)
            if is_new_pair and self.settings.networks and not self._inside(ip):
                out.append(ev.LanEventSeen(ev.BOGON, ts, ip, mac))
        if arp.link_src and arp.link_src != mac:
            self._once(out, ev.ETHERNET_MISMATCH, ts, ip, mac, arp.link_src,
                       {"link_src": arp.link_src})
        if _is_broadcastish(mac) or ip == "255.255.255.255":
            self._once(out, ev.BROADCAST_ADDRESS, ts, ip, mac, "", {})
        if arp.op == OP_REQUEST and not arp.probe and not arp.gratuitous:
            self._check_asks_for_own_claim(arp, out)
        if len(self.stations) > self.settings.max_stations:
            self._evict()
        return out

    def _claim(self, arp: ArpSeen, out: list[ev.LanEventSeen], is_new_pair: bool) -> None:
        ts, ip, mac = arp.ts, arp.sender_ip, arp.sender_mac
        st = self.ips.get(ip)
        if st is None:
            st = self.ips[ip] = _IpState(mac)
            self._set_owner(st, mac, ts)
            out.append(ev.LanEventSeen(ev.NEW_STATION, ts, ip, mac, detail={
                "vendor": self.stations[(ip, mac)].vendor,
                "randomized": self.stations[(ip, mac)].randomized}))
            return
        old = st.mac
        if old == mac:
            st.last_claim[mac] = max(st.last_claim.get(mac, ts), ts)
            return
        if len(st.history) >= 2 and st.history[-2] == mac:
            kind = ev.FLIP_FLOP
        elif mac in st.history:
            kind = ev.REUSED_OLD_ETHERNET_ADDRESS
        else:
            kind = ev.CHANGED_ETHERNET_ADDRESS
        old_ts = st.last_claim.get(old)
        probed = self._probes.get((ip, mac))
        handover = probed is not None and 0 <= ts - probed <= PROBE_GRACE_S
        out.append(ev.LanEventSeen(kind, ts, ip, mac, old, {
            "old_last_claim": old_ts, "after_probe": handover}))
        # A device that takes over an address legitimately (DHCP) probes for it first
        # (RFC 5227); a spoofer just claims it. Only the latter, while the old owner is
        # still recent, is poisoning.
        if (old_ts is not None and not handover
                and 0 <= ts - old_ts <= self.settings.poisoning_window_s):
            out.append(ev.LanEventSeen(ev.ARP_POISONING, ts, ip, mac, old, {
                "reason": "address claimed by another MAC within the window",
                "seconds_since_previous_claim": round(ts - old_ts, 3),
                "window_s": self.settings.poisoning_window_s,
                "macs": sorted({old, mac}),
                "op": "reply" if arp.op == 2 else "request"}))
        if ip in self.settings.gateways:
            out.append(ev.LanEventSeen(ev.GATEWAY_MAC_CHANGED, ts, ip, mac, old, {
                "gateway": ip}))
        self._set_owner(st, mac, ts)

    def _check_asks_for_own_claim(self, arp: ArpSeen, out: list[ev.LanEventSeen]) -> None:
        """A host that claims address X and then asks who has X is not X's owner: a spoofer
        looking up the real owner it impersonates (what arpspoof/ettercap do)."""
        st = self.ips.get(arp.target_ip)
        if st is None or st.mac != arp.sender_mac:
            return
        claimed = st.last_claim.get(arp.sender_mac)
        if claimed is None or not 0 <= arp.ts - claimed <= self.settings.poisoning_window_s:
            return
        out.append(ev.LanEventSeen(ev.ARP_POISONING, arp.ts, arp.target_ip, arp.sender_mac, "", {
            "reason": "MAC asks for an address it claims as its own",
            "asked_from": arp.sender_ip,
            "seconds_since_claim": round(arp.ts - claimed, 3),
            "macs": [arp.sender_mac]}))

    @staticmethod
    def _set_owner(st: _IpState, mac: str, ts: float) -> None:
        st.mac = mac
        if mac in st.history:
            st.history.remove(mac)
        st.history.append(mac)
        del st.history[:-HISTORY]
        st.last_claim[mac] = max(st.last_claim.get(mac, ts), ts)
        if len(st.last_claim) > HISTORY:
            for m in list(st.last_claim):
                if m not in st.history:
                    del st.last_claim[m]

    def _once(self, out: list[ev.LanEventSeen], kind: ev.LanEventKind, ts: float, ip: str,
              mac: str, other: str, detail: ev.LanDetail) -> None:
        k = (kind, ip, mac + other)
        if k in self._noted:
            return
        if len(self._noted) > self.settings.max_stations:
            self._noted.clear()
        self._noted.add(k)
        out.append(ev.LanEventSeen(kind, ts, ip, mac, "", detail.copy()))

    def _inside(self, ip: str) -> bool:
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            return False
        return any(addr in n for n in self.settings.networks)

    def _evict(self) -> None:
        """Bound memory under an ARP flood: forget the least recently seen flushed stations."""
        keep = self.settings.max_stations * 9 // 10
        clean = sorted((a for a in self.stations.values() if not a.dirty),
                       key=lambda a: a.last_seen)
        for a in clean[: max(0, len(self.stations) - keep)]:
            del self.stations[(a.ip, a.mac)]
            st = self.ips.get(a.ip)
            if st is not None and st.mac == a.mac:
                del self.ips[a.ip]

    def take_dirty(self) -> list[StationAgg]:
        dirty = [a for a in self.stations.values() if a.dirty]
        for a in dirty:
            a.dirty = False
        return dirty
