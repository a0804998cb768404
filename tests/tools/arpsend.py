"""Send crafted ARP frames from inside a test namespace (raw AF_PACKET socket, no scapy).

usage: arpsend.py IFACE OP SENDER_MAC SENDER_IP TARGET_MAC TARGET_IP [COUNT] [INTERVAL] [ETH_DST]
"""

import socket
import struct
import sys
import time


def mac(s: str) -> bytes:
    return bytes.fromhex(s.replace(":", ""))


def ip(s: str) -> bytes:
    return socket.inet_aton(s)


def main() -> None:
    iface, op, smac, sip, tmac, tip = sys.argv[1:7]
    count = int(sys.argv[7]) if len(sys.argv) > 7 else 1
    interval = float(sys.argv[8]) if len(sys.argv) > 8 else 0.1
    eth_dst = sys.argv[9] if len(sys.argv) > 9 else "ff:ff:ff:ff:ff:ff"
    frame = (mac(eth_dst) + mac(smac) + b"\x08\x06"
             + struct.pack("!HHBBH", 1, 0x0800, 6, 4, int(op))
             + mac(smac) + ip(sip) + mac(tmac) + ip(tip))
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((iface, 0))
    for i in range(count):
        s.send(frame)
        if i + 1 < count:
            time.sleep(interval)


if __name__ == "__main__":
    main()
