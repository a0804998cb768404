"""Self-health of the appliance: temperature and throttling, memory, disk, interfaces, capture
drops, clock. Reading is at the edge (psutil, /sys); deciding is pure (`health_drafts`).

A Raspberry Pi has no real-time clock: until NTP has set the time, timestamps would say 1970.
`clock_ok` tells the agent, which then holds findings back instead of writing them with a
wrong date.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from appliance.config import Health
from appliance.findings import FindingDraft
from appliance.i18n import N_, both

MEASURE = "1-4"  # the periodic checks are only as good as the appliance doing them
EARLIEST_SANE = time.mktime((2025, 1, 1, 0, 0, 0, 0, 0, -1))
RESERVE_NAME = ".disk-reserve"
RESERVE_BYTES = 1 << 20


# The thresholds are the config's `[health]` table (documented in docs/configuration.md).
HealthSettings = Health


@dataclass
class HealthReading:
    time: float
    cpu_temp_c: float | None = None
    throttled: int | None = None  # Raspberry Pi firmware flags (0: never throttled)
    memory_pct: float | None = None
    disk_free_mb: float | None = None
    disk_free_pct: float | None = None
    interfaces: dict[str, bool] = field(default_factory=dict)  # name -> up
    capture_packets: int = 0  # since the last reading
    capture_drops: int = 0  # since the last reading
    sd_written_gb: float | None = None  # total written to the SD card since boot (wear)
    clock_ok: bool = True

    def to_json(self) -> dict[str, Any]:
        return {"cpu_temp_c": self.cpu_temp_c, "throttled": self.throttled,
                "memory_pct": self.memory_pct, "disk_free_mb": self.disk_free_mb,
                "disk_free_pct": self.disk_free_pct, "interfaces": self.interfaces,
                "capture_packets": self.capture_packets, "capture_drops": self.capture_drops,
                "sd_written_gb": self.sd_written_gb, "clock_ok": self.clock_ok}


def read(data_dir: Path, interfaces: list[str], capture: tuple[int, int] = (0, 0)
         ) -> HealthReading:
    import psutil

    r = HealthReading(time=time.time(), capture_packets=capture[0], capture_drops=capture[1])
    r.clock_ok = r.time >= EARLIEST_SANE
    try:
        temps = psutil.sensors_temperatures()
        vals = [t.current for ts in temps.values() for t in ts if t.current]
        r.cpu_temp_c = max(vals) if vals else None
    except (AttributeError, OSError):
        r.cpu_temp_c = None
    throttled = Path("/sys/devices/platform/soc/soc:firmware/get_throttled")
    if throttled.exists():
        try:
            r.throttled = int(throttled.read_text().strip(), 16)
        except (OSError, ValueError):
            r.throttled = None
    r.memory_pct = psutil.virtual_memory().percent
    try:
        du = shutil.disk_usage(data_dir)
        r.disk_free_mb = round(du.free / 2**20, 1)
        r.disk_free_pct = round(du.free / du.total * 100, 1) if du.total else None
    except OSError:
        pass
    # SD cards wear with writes: sectors written since boot, from the block layer
    for dev in ("mmcblk0", "mmcblk1"):
        stat = Path("/sys/block", dev, "stat")
        if stat.exists():
            with contextlib.suppress(OSError, ValueError, IndexError):
                r.sd_written_gb = round(int(stat.read_text().split()[6]) * 512 / 1e9, 2)
            break
    stats = psutil.net_if_stats()
    for name in interfaces:
        if name:
            r.interfaces[name] = bool(stats.get(name) and stats[name].isup)
    return r


def health_drafts(r: HealthReading, s: Health) -> list[FindingDraft]:
    """Pure: a finding per problem, and a clearing draft per problem that went away."""
    out = []

    def draft(rule: str, bad: bool, sev: str, title: str, message: str,
              words: dict[str, object], subject: str = "appliance", **ev: Any) -> None:
        """`title` and `message` are msgids; both languages are stored, from the catalog."""
        ja, en = both(title)
        msg_ja, msg_en = both(message, **words)
        out.append(FindingDraft(rule, MEASURE, sev if bad else "info", subject, ja, en, r.time,
                                evidence=ev, message_ja=msg_ja, message_en=msg_en,
                                clear=not bad))

    low_disk = r.disk_free_mb is not None and (
        r.disk_free_mb < s.disk_min_free_mb
        or (r.disk_free_pct is not None and r.disk_free_pct < s.disk_min_free_pct))
    draft("health.disk_low", low_disk, "high", N_("The appliance is running out of disk space"),
          N_("Only {mb} MB free where the data is stored: remove old exports or shorten "
          "retention, or records will be lost."), {"mb": r.disk_free_mb},
          disk_free_mb=r.disk_free_mb, disk_free_pct=r.disk_free_pct)
    hot = r.cpu_temp_c is not None and r.cpu_temp_c >= s.temp_max_c
    throttling = bool(r.throttled and r.throttled & 0xF)
    draft("health.overheating", hot or throttling, "medium",
          N_("The appliance is too hot (throttling)"),
          N_("CPU at {temp} °C: check the appliance's ventilation."), {"temp": r.cpu_temp_c},
          cpu_temp_c=r.cpu_temp_c, throttled=r.throttled)
    mem = r.memory_pct is not None and r.memory_pct >= s.memory_max_pct
    draft("health.memory_high", mem, "medium", N_("The appliance is short of memory"),
          N_("Memory {pct}% used."), {"pct": r.memory_pct}, memory_pct=r.memory_pct)
    drops = r.capture_drops > 0 and (
        r.capture_drops * 100 >= max(1, r.capture_packets) * s.capture_drops_max_pct)
    draft("health.capture_drops", drops, "medium", N_("The sensors are dropping packets"),
          N_("{drops} of {packets} packets were dropped recently: the appliance is overloaded."),
          {"drops": r.capture_drops, "packets": r.capture_packets}, capture_drops=r.capture_drops,
          capture_packets=r.capture_packets)
    for name, up in r.interfaces.items():
        draft("health.interface_down", not up, "high", N_("A monitored network interface is down"),
              N_("{name} is down: check the cable or the USB adapter."), {"name": name},
              subject=name,
              interface=name)
    return out


def ensure_reserve(data_dir: Path) -> None:
    """A small ballast file, released when the disk fills up so that the health finding and
    the last batch can still be written."""
    p = data_dir / RESERVE_NAME
    if p.exists():
        return
    try:
        with p.open("wb") as f:
            f.write(b"\0" * RESERVE_BYTES)
            f.flush()
            os.fsync(f.fileno())
    except OSError:
        p.unlink(missing_ok=True)


def release_reserve(data_dir: Path) -> bool:
    p = data_dir / RESERVE_NAME
    if p.exists():
        p.unlink()
        return True
    return False


def unclean_stop_draft(previous: dict[str, Any] | None, now: float) -> FindingDraft | None:
    """Pure: the agent's last heartbeat still said "running", so it did not stop by itself — the
    watchdog killed it (hung), it crashed, or the power was cut. One finding, for the record."""
    if not previous or not previous.get("running"):
        return None
    last = str(previous.get("heartbeat_at", "?"))
    title_ja, title_en = both("The monitoring agent restarted after an unclean stop")
    message_ja, message_en = both(
        "The last sign of life was at {last}: the watchdog restarted a hung agent, it crashed, "
        "or the power was cut, and monitoring was interrupted meanwhile. If this repeats, have "
        "the appliance checked.", last=last)
    return FindingDraft(
        "health.unclean_restart", MEASURE, "medium", "agent", title_ja, title_en,
        now, evidence={"last_heartbeat_at": last, "previous_pid": previous.get("pid")},
        message_ja=message_ja, message_en=message_en)
