"""Retry delays (exponential, full jitter, capped) and the bandwidth cap's token bucket."""

from __future__ import annotations

import asyncio
import random
import time

import pytest

from edge.uplink.pacing import TokenBucket, backoff_s


def test_backoff_grows_exponentially_up_to_the_cap_with_full_jitter() -> None:
    ceilings = [backoff_s(n, 1.0, 60.0, rand=lambda: 1.0 - 1e-12) for n in range(1, 10)]
    assert [round(c) for c in ceilings] == [1, 2, 4, 8, 16, 32, 60, 60, 60]
    assert all(backoff_s(n, 1.0, 60.0, rand=lambda: 0.0) == 0.0 for n in range(1, 10))
    assert backoff_s(10_000, 0.5, 30.0, rand=lambda: 0.5) == 15.0  # no overflow for a very long outage
    rng = random.Random(7)
    samples = [backoff_s(5, 1.0, 60.0, rand=rng.random) for _ in range(2000)]
    assert all(0.0 <= s <= 16.0 for s in samples)
    # full jitter: spread over the whole range, not bunched at the ceiling
    assert min(samples) < 1.0 and max(samples) > 15.0 and 7.0 < sum(samples) / len(samples) < 9.0


def test_the_token_bucket_holds_its_rate_within_ten_percent_over_two_seconds() -> None:
    rate = 1_000_000

    async def transfer() -> tuple[float, int]:
        bucket = TokenBucket(rate)
        sent, started = 0, time.monotonic()
        while sent < 2 * rate:
            await bucket.take(128 * 1024)
            sent += 128 * 1024
        return time.monotonic() - started, sent

    elapsed, sent = asyncio.run(transfer())
    measured = sent / elapsed
    assert measured == pytest.approx(rate, rel=0.10), (sent, elapsed)


def test_pieces_larger_than_the_burst_still_keep_the_rate() -> None:
    async def transfer() -> float:
        bucket = TokenBucket(400_000, burst=16 * 1024)
        started = time.monotonic()
        for _ in range(4):
            await bucket.take(200_000)
        return time.monotonic() - started

    elapsed = asyncio.run(transfer())
    assert 1.5 <= elapsed <= 2.3  # 800 kB at 400 kB/s: the first piece goes on the burst, its debt is paid after


def test_a_rate_of_zero_is_no_cap() -> None:
    async def transfer() -> float:
        bucket = TokenBucket(0)
        started = time.monotonic()
        for _ in range(100):
            await bucket.take(10_000_000)
        return time.monotonic() - started

    assert asyncio.run(transfer()) < 0.1
