"""Link layers: Ethernet (with VLAN tags), 802.11 data frames (LLC/SNAP), radiotap and PPI.

`network_payload` finds the EtherType and payload of a frame whatever its capture link type,
so the ARP parser sees ARP from a wired port and from a monitor-mode radio alike.
"""

from __future__ import annotations

from dataclasses import dataclass

from agent.capture import LINKTYPE_ETHERNET, LINKTYPE_MASK
from agent.parsers.radio import split_radio

ETH_ARP = 0x0806
_VLAN_TAGS = (0x8100, 0x88A8, 0x9100)
_SNAP = b"\xaa\xaa\x03\x00\x00\x00"
_SNAP_BRIDGE_TUNNEL = b"\xaa\xaa\x03\x00\x00\xf8"


@dataclass(frozen=True, slots=True)
class NetworkPayload:
    ethertype: int
    src: bytes  # link-layer source (Ethernet source, 802.11 SA); b"" when not known
    payload: bytes


def dot11_data_payload(frame: bytes) -> NetworkPayload | None:
    """LLC/SNAP payload of an unprotected 802.11 data frame, or None."""
    if len(frame) < 24:
        return None
    fc0, fc1 = frame[0], frame[1]
    if (fc0 >> 2) & 3 != 2 or fc0 & 3:  # not a data frame (or unknown protocol version)
        return None
    subtype = fc0 >> 4
    if subtype & 0x4:  # null / no-data subtypes carry no payload
        return None
    if fc1 & 0x40:  # protected: encrypted, nothing to read
        return None
    to_ds, from_ds = fc1 & 1, (fc1 >> 1) & 1
    hlen = 24
    if to_ds and from_ds:
        hlen += 6
    if subtype & 0x8:  # QoS data
        hlen += 2
        if fc1 & 0x80:  # +HTC
            hlen += 4
    if from_ds and not to_ds:
        src = frame[16:22]
    elif to_ds and from_ds:
        src = frame[24:30]
    else:
        src = frame[10:16]
    llc = frame[hlen : hlen + 8]
    if len(llc) < 8 or llc[:6] not in (_SNAP, _SNAP_BRIDGE_TUNNEL):
        return None
    return NetworkPayload((llc[6] << 8) | llc[7], bytes(src), frame[hlen + 8 :])


def ethernet_payload(data: bytes) -> NetworkPayload | None:
    if len(data) < 14:
        return None
    etype = (data[12] << 8) | data[13]
    off = 14
    while etype in _VLAN_TAGS and len(data) >= off + 4:
        etype = (data[off + 2] << 8) | data[off + 3]
        off += 4
    if etype < 0x0600:  # 802.3 length field: LLC follows
        llc = data[off : off + 8]
        if len(llc) == 8 and llc[:6] == _SNAP:
            return NetworkPayload((llc[6] << 8) | llc[7], data[6:12], data[off + 8 :])
        return None
    return NetworkPayload(etype, data[6:12], data[off:])


def network_payload(linktype: int, data: bytes) -> NetworkPayload | None:
    if linktype & LINKTYPE_MASK == LINKTYPE_ETHERNET:
        return ethernet_payload(data)
    split = split_radio(linktype, data)
    if split is None:
        return None
    return dot11_data_payload(split[1])
