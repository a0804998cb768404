"""Politeness: a global and a per-host token bucket, and a per-host concurrency cap."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict


class Bucket:
    def __init__(self, rate: float, burst: float | None = None) -> None:
        self.rate = rate
        self.capacity = burst if burst is not None else max(1.0, rate / 10)
        self.tokens = self.capacity
        self.t = time.monotonic()
        self.lock = asyncio.Lock()

    async def take(self) -> None:
        async with self.lock:
            while True:
                now = time.monotonic()
                self.tokens = min(self.capacity, self.tokens + (now - self.t) * self.rate)
                self.t = now
                if self.tokens >= 1:
                    self.tokens -= 1
                    return
                await asyncio.sleep((1 - self.tokens) / self.rate)


class Limiter:
    """Every packet-sending action awaits `slot(ip)`: both buckets, then the host's semaphore."""

    def __init__(self, rate_per_s: float, host_rate_per_s: float, host_concurrency: int) -> None:
        self.glob = Bucket(rate_per_s)
        self._host_rate = host_rate_per_s
        self._host_conc = host_concurrency
        self.hosts: dict[str, Bucket] = {}
        self.sems: dict[str, asyncio.Semaphore] = defaultdict(
            lambda: asyncio.Semaphore(self._host_conc))
        self.sent = 0

    async def take(self, ip: str) -> None:
        b = self.hosts.get(ip)
        if b is None:
            b = self.hosts[ip] = Bucket(self._host_rate)
        await b.take()
        await self.glob.take()
        self.sent += 1

    def sem(self, ip: str) -> asyncio.Semaphore:
        return self.sems[ip]
