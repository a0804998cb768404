"""The live agent for bench_wifi.py's CPU figure: `agent.runner.Agent` (its select loop,
pipeline, rules, store writes, heartbeats) reading radiotap frames from a Unix datagram socket
instead of a monitor radio (this machine has none; one recv per frame, as from AF_PACKET).

    _live_agent_child.py SOCKET DATA_DIR      runs until SIGTERM
"""

from __future__ import annotations

import signal
import socket
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from agent.capture import LINKTYPE_RADIOTAP, Frame  # noqa: E402
from agent.runner import Agent  # noqa: E402
from appliance.config import Config  # noqa: E402
from appliance.store import Store  # noqa: E402


class DatagramRadio:
    def __init__(self, path: str) -> None:
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
        self.s.bind(path)
        self.s.setblocking(False)

    def fileno(self) -> int:
        return self.s.fileno()

    def read(self) -> Frame | None:
        try:
            data = self.s.recv(65535)
        except BlockingIOError:
            return None
        return Frame(time.time(), LINKTYPE_RADIOTAP, data)

    def close(self) -> None:
        self.s.close()


def main() -> None:
    sock, data = sys.argv[1], sys.argv[2]
    config = Config.model_validate({"interfaces": {"lan": "lo"},
                                    "storage": {"data_dir": data}})
    store = Store(config.db_path)
    try:
        agent = Agent(config, store, wifi_source=DatagramRadio(sock))
        signal.signal(signal.SIGTERM, lambda *_a: agent.stop.set())
        agent.run()
    finally:
        store.close()


if __name__ == "__main__":
    main()
