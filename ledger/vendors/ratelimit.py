"""A token bucket per vendor: order attempts never go out faster than the vendor allows.

Bulk batches turn thousands of rows into pending orders at once; the completer works them at
its own concurrency, and this bucket (VendorConfig.rate_limit_per_s) keeps that under the rate
the vendor publishes, so a batch does not trade a backlog for a stream of 429s. Each caller
reserves the next free slot and sleeps until it (virtual scheduling), so waiters go out in
arrival order at exactly the rate, without polling.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable


class TokenBucket:
    def __init__(
        self,
        rate_per_s: float,
        burst: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        if rate_per_s <= 0:
            raise ValueError(f"rate_per_s must be positive, got {rate_per_s}")
        # One second's worth by default: vendors state limits per second, and a full second's
        # calls at once is what such a limit admits.
        self._burst = max(1.0, rate_per_s if burst is None else burst)
        self._rate, self._clock, self._sleep = rate_per_s, clock, sleep
        self._tokens = self._burst
        self._updated = clock()

    async def acquire(self) -> None:
        """Take one token, waiting for it if the bucket is empty."""
        now = self._clock()
        self._tokens = min(self._burst, self._tokens + (now - self._updated) * self._rate)
        self._updated = now
        # Taken before the wait, so the next caller queues behind this one; the balance goes
        # negative by the number of callers waiting. A cancelled waiter's token stays spent:
        # slower, never faster than the limit.
        self._tokens -= 1
        if self._tokens < 0:
            await self._sleep(-self._tokens / self._rate)
