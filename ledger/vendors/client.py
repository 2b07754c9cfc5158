"""Retries and the circuit breaker around one vendor adapter.

Only ambiguous outcomes (Unknown) are retried, and always with the same request, so the vendor
sees the same idempotency key every time. The journal records each attempt before it is sent and
its outcome after, so a crash between the two leaves a visible "sent, outcome unknown" record.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from typing import Literal, Protocol

import structlog

from ledger.vendors.base import Outcome, Unknown, VendorAdapter, VendorOrderRequest
from ledger.vendors.ratelimit import TokenBucket

log = structlog.get_logger(__name__)

BreakerState = Literal["closed", "open", "half_open"]

# Four attempts with a 0.1 s base back off at most 0.1 + 0.2 + 0.4 s (more only if the vendor's
# Retry-After asks): enough to ride out a dropped connection inside a client's request, short
# enough that a vendor that stays down is left to the completer rather than holding the caller.
DEFAULT_MAX_ATTEMPTS = 4
DEFAULT_BASE_DELAY_S = 0.1
# The longest single wait, and the longest Retry-After obeyed inline (see submit).
DEFAULT_MAX_DELAY_S = 5.0
# Five consecutive ambiguous answers is past bad luck at normal fault rates (a 10% 5xx rate
# gives 1 in 100,000), so the vendor is treated as down.
DEFAULT_FAILURE_THRESHOLD = 5
# Long enough for a restarting vendor or an expiring rate-limit window, short enough that
# recovery is noticed within a minute.
DEFAULT_RESET_AFTER_S = 30.0


class AttemptJournal(Protocol):
    async def before_attempt(self, attempt: int) -> None:
        """Durably record that attempt `attempt` (1-based) is about to be sent."""
        ...

    async def after_attempt(self, attempt: int, outcome: Outcome) -> None: ...


class CircuitBreaker:
    """Stops calling a vendor that keeps failing, so a dead vendor costs one check, not a
    timeout per order, and it gets room to recover.

    Shared by every submission to one vendor. Rejections do not count as failures: a vendor that
    answers "no" is up.
    """

    def __init__(
        self,
        failure_threshold: int = DEFAULT_FAILURE_THRESHOLD,
        reset_after: float = DEFAULT_RESET_AFTER_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if failure_threshold < 1 or reset_after <= 0:
            raise ValueError("failure_threshold must be >= 1 and reset_after > 0")
        self._threshold = failure_threshold
        self._reset_after = reset_after
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._trial_in_flight = False

    @property
    def state(self) -> BreakerState:
        if self._opened_at is None:
            return "closed"
        if self._trial_in_flight or self._clock() - self._opened_at >= self._reset_after:
            return "half_open"
        return "open"

    def allow(self) -> bool:
        """May a call go out now? In half-open state exactly one trial call is let through."""
        state = self.state
        if state == "closed":
            return True
        if state == "half_open" and not self._trial_in_flight:
            self._trial_in_flight = True
            return True
        return False

    def record(self, outcome: Outcome) -> None:
        if isinstance(outcome, Unknown):
            self.record_failure()
            return
        self._failures = 0
        self._opened_at = None
        self._trial_in_flight = False

    def record_failure(self) -> None:
        self._failures += 1
        if self._trial_in_flight or self._failures >= self._threshold:
            # A failed trial re-opens for a full period; the clock restarts either way.
            self._opened_at = self._clock()
        self._trial_in_flight = False


class VendorClient:
    def __init__(
        self,
        adapter: VendorAdapter,
        *,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        base_delay: float = DEFAULT_BASE_DELAY_S,
        max_delay: float = DEFAULT_MAX_DELAY_S,
        breaker: CircuitBreaker,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        rng: random.Random,
        limiter: TokenBucket | None = None,
    ) -> None:
        if max_attempts < 1 or base_delay <= 0 or max_delay < base_delay:
            raise ValueError("need max_attempts >= 1 and 0 < base_delay <= max_delay")
        self.adapter = adapter
        self.breaker = breaker
        self._max_attempts = max_attempts
        self._base_delay = base_delay
        self._max_delay = max_delay
        self._sleep = sleep
        self._rng = rng
        self._limiter = limiter

    def backoff(self, retry: int) -> float:
        """Full jitter (AWS architecture blog): uniform over [0, min(cap, base * 2**retry)],
        so clients that failed together do not retry together."""
        ceiling = min(self._max_delay, self._base_delay * 2 ** min(retry, 32))
        return self._rng.uniform(0, ceiling)

    async def submit(self, req: VendorOrderRequest, journal: AttemptJournal) -> Outcome:
        """Send `req` until the vendor gives a definite answer or attempts run out.

        Returns Unknown("circuit_open") only when nothing was sent in this call; once an attempt
        went out, the last real outcome is returned, since that is what the journal recorded.
        Journal errors propagate: an attempt that cannot be recorded first is never sent.
        """
        last: Outcome | None = None
        for attempt in range(1, self._max_attempts + 1):
            if not self.breaker.allow():
                if last is not None:
                    return last
                return Unknown("circuit_open", f"{self.adapter.name} circuit is open")
            if self._limiter is not None:
                # Before the journal, so the recorded send time is when it really went out.
                await self._limiter.acquire()
            await journal.before_attempt(attempt)
            try:
                outcome = await self.adapter.create_order(req)
            except BaseException:
                # Adapters classify HTTP trouble; anything escaping is a bug or a cancellation.
                # Count it so a half-open trial is never left holding the breaker shut.
                self.breaker.record_failure()
                raise
            self.breaker.record(outcome)
            await journal.after_attempt(attempt, outcome)
            if not isinstance(outcome, Unknown) or attempt == self._max_attempts:
                return outcome
            last = outcome
            delay = self.backoff(attempt - 1)
            if outcome.retry_after is not None:
                if outcome.retry_after > self._max_delay:
                    # Retrying sooner than the vendor asked would be refused again; blocking
                    # longer than max_delay would hold the caller's request. Hand the Unknown
                    # back: the completer retries later with the same reference.
                    return outcome
                delay = max(delay, outcome.retry_after)
            log.info(
                "vendor_attempt_retry",
                vendor=self.adapter.name,
                attempt=attempt,
                reason=outcome.reason,
                delay=round(delay, 3),
            )
            await self._sleep(delay)
        raise AssertionError("unreachable: the last attempt always returns")  # pragma: no cover
