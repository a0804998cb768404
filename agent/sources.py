"""Frame sources: a live L2 socket with a kernel BPF filter, and capture files (agent.capture).

Both yield `Frame`s, so the pipeline cannot tell them apart. Only the receive path of scapy is
imported (not `scapy.all`): it keeps the agent small enough for a Pi Zero 2 W.
"""

from __future__ import annotations

import logging
import socket
import struct
import time
from pathlib import Path

from agent.capture import LINKTYPE_ETHERNET, LINKTYPE_RADIOTAP, Frame

log = logging.getLogger(__name__)

ETH_P_ALL = 0x0003
ARPHRD_ETHER = 1
ARPHRD_IEEE80211_RADIOTAP = 803


class SourceError(Exception):
    pass


def interface_exists(name: str) -> bool:
    return bool(name) and Path("/sys/class/net", name).exists()


def interface_arphrd(name: str) -> int | None:
    try:
        return int(Path("/sys/class/net", name, "type").read_text().strip())
    except (OSError, ValueError):
        return None


def can_capture() -> tuple[bool, str]:
    """Whether this process may open raw packet sockets (root or CAP_NET_RAW)."""
    try:
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    except PermissionError:
        return False, (
            "missing CAP_NET_RAW: run as root, or grant the capability "
            "(systemd: AmbientCapabilities=CAP_NET_RAW; shell: setcap cap_net_raw+eip)"
        )
    except OSError as exc:
        return False, f"cannot open a packet socket: {exc.strerror}"
    s.close()
    return True, ""


SO_ATTACH_FILTER = 26
SOL_PACKET = 263
PACKET_ADD_MEMBERSHIP = 1
PACKET_MR_PROMISC = 1
PACKET_STATISTICS = 6


def attach_bpf(sock: socket.socket, expr: str, linktype: int) -> None:
    """Compile a tcpdump-style filter with libpcap (through scapy) and attach it to SOCK.

    The kernel copies the program, so it is freed right after.
    """
    import ctypes

    from scapy.arch.common import compile_filter, free_filter
    from scapy.libs.structures import sock_fprog

    bp = compile_filter(expr, linktype=linktype)
    try:
        fprog = sock_fprog(bp.bf_len, bp.bf_insns)
        raw = ctypes.string_at(ctypes.addressof(fprog), ctypes.sizeof(fprog))
        sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, raw)
    finally:
        free_filter(bp)


class LiveSource:
    """Frames from a network interface, filtered in the kernel (classic BPF).

    A plain AF_PACKET socket; libpcap (through scapy) only compiles the filter expression.
    """

    def __init__(self, iface: str, bpf: str, promisc: bool = True) -> None:
        self.iface = iface
        self.bpf = bpf
        arphrd = interface_arphrd(iface)
        if arphrd is None:
            raise SourceError(f"interface {iface!r} does not exist")
        self.linktype = LINKTYPE_RADIOTAP if arphrd == ARPHRD_IEEE80211_RADIOTAP else (
            LINKTYPE_ETHERNET)
        try:
            sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        except PermissionError as exc:
            raise SourceError(f"{iface}: {can_capture()[1]}") from exc
        try:
            attach_bpf(sock, bpf, self.linktype)
        except (ImportError, OSError) as exc:
            sock.close()
            raise SourceError(
                f"cannot compile the BPF filter {bpf!r}: {exc} (install Debian's libpcap0.8)"
            ) from exc
        except Exception as exc:  # scapy raises its own exception types for bad expressions
            sock.close()
            raise SourceError(f"invalid BPF filter {bpf!r}: {exc}") from exc
        try:
            sock.bind((iface, ETH_P_ALL))
            if promisc:
                mreq = struct.pack("IHH8s", socket.if_nametoindex(iface), PACKET_MR_PROMISC,
                                   0, b"")
                sock.setsockopt(SOL_PACKET, PACKET_ADD_MEMBERSHIP, mreq)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
        except OSError as exc:
            sock.close()
            raise SourceError(f"{iface}: cannot capture: {exc.strerror or exc}") from exc
        self._sock = sock

    def fileno(self) -> int:
        return self._sock.fileno()

    def stats(self) -> tuple[int, int]:
        """(packets, drops) the kernel counted since the last call (PACKET_STATISTICS)."""
        try:
            raw = self._sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, 8)
        except OSError:
            return 0, 0
        packets, drops = struct.unpack("II", raw)
        return packets, drops

    def read(self) -> Frame | None:
        """One waiting frame, or None when there is none (never blocks)."""
        try:
            data = self._sock.recv(65535, socket.MSG_DONTWAIT)
        except BlockingIOError:
            return None
        except OSError as exc:
            log.error("%s: receive failed: %s", self.iface, exc)
            return None
        return Frame(time.time(), self.linktype, data)

    def close(self) -> None:
        self._sock.close()


def default_route_interface() -> tuple[str, str] | None:
    """(interface, gateway IP) of the IPv4 default route, or None."""
    try:
        import netifaces
    except ImportError:
        return None
    default = netifaces.gateways().get("default")  # netifaces-plus types it as a union
    entry = default.get(netifaces.AF_INET) if isinstance(default, dict) else None
    if not entry:
        return None
    gw, iface = entry[0], entry[1]
    return str(iface), str(gw)
