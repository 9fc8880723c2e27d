"""How fast and how often the uplink may try: retry delays with full jitter, and one token bucket
over all uploads (the lane's link to the hub is shared with the devices' own traffic)."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable


def backoff_s(attempts: int, base_s: float, cap_s: float, rand: Callable[[], float] = random.random) -> float:
    """The delay before retry number `attempts` (1 = the first): uniform in [0, min(cap, base * 2^(n-1))]
    ("full jitter", so many edges coming back together do not retry in step)."""
    ceiling = min(cap_s, base_s * 2.0 ** min(max(attempts - 1, 0), 62))
    return ceiling * rand()


class TokenBucket:
    """`rate` bytes per second on average, bursts of at most `burst` bytes; rate 0 = no cap.

    `take(n)` waits until n bytes may go. A piece larger than the burst is let through once the
    bucket is full, leaving a debt that later takes pay back, so the rate holds for any piece size.
    """

    def __init__(self, rate: float, burst: float | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = float(rate)
        self.burst = float(burst if burst is not None else max(rate / 20, 16 * 1024))
        self._clock = clock
        self._tokens = self.burst
        self._at = clock()
        self._lock = asyncio.Lock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now

    async def take(self, n: int) -> None:
        if self.rate <= 0 or n <= 0:
            return
        async with self._lock:  # one sender at a time, in arrival order
            self._refill()
            need = min(float(n), self.burst)
            while self._tokens < need:
                await asyncio.sleep((need - self._tokens) / self.rate)
                self._refill()
            self._tokens -= n
