"""Retries and the circuit breaker around one vendor adapter.

Only ambiguous outcomes (Unknown) are retried, and always with the same request, so the vendor
sees the same idempotency key every time. The journal records each attempt before it is sent and
its outcome after, so a crash between the two leaves a visible "sent, outcome unknown" record.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Protocol

import structlog

from ledger.vendors.base import (
    REFERENCE_CONFLICT,
    Outcome,
    Unknown,
    VendorAdapter,
    VendorOrderRequest,
    VendorOrderView,
    VendorUnavailable,
    settle_refusal,
    unhealthy_read,
)
from ledger.vendors.breaker import CircuitBreaker
from ledger.vendors.ratelimit import TokenBucket

log = structlog.get_logger(__name__)

# Four attempts with a 0.1 s base back off at most 0.1 + 0.2 + 0.4 s (more only if the vendor's
# Retry-After asks): enough to ride out a dropped connection inside a client's request, short
# enough that a vendor that stays down is left to the completer rather than holding the caller.
DEFAULT_MAX_ATTEMPTS = 4
DEFAULT_BASE_DELAY_S = 0.1
# The longest single wait, and the longest Retry-After obeyed inline (see submit).
DEFAULT_MAX_DELAY_S = 5.0


class AttemptJournal(Protocol):
    async def before_attempt(self, attempt: int) -> None:
        """Durably record that attempt `attempt` (1-based) is about to be sent."""
        ...

    async def after_attempt(self, attempt: int, outcome: Outcome) -> None: ...


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

    async def submit(
        self, req: VendorOrderRequest, journal: AttemptJournal, *, vendor_may_have_it: bool = False
    ) -> Outcome:
        """Send `req` until the vendor gives a definite answer or attempts run out.

        Returns Unknown("circuit_open") only when nothing was sent in this call; once an attempt
        went out, the last real outcome is returned, since that is what the journal recorded.
        Journal errors propagate: an attempt that cannot be recorded first is never sent.
        `vendor_may_have_it`: an earlier attempt of this order got no definite answer, so only
        a business error may fail it (settle_refusal); an unknown here makes that true too.
        """
        last: Outcome | None = None
        # A vendor that keeps no idempotency key (retention 0) gets one attempt per call,
        # whatever max_attempts says: a second one after an unknown is a second order unless
        # a look-up, after the first has had time to show, finds nothing (the completer's).
        attempts = self._max_attempts if self.adapter.key_retention > timedelta(0) else 1
        for attempt in range(1, attempts + 1):
            if not self.breaker.allow():
                if last is not None:
                    return last
                return self._circuit_open()
            try:
                if self._limiter is not None:
                    # Before the journal, so the recorded send time is when it really went out.
                    await self._limiter.acquire()
                await journal.before_attempt(attempt)
            except BaseException:
                # Nothing went out (the journal's database away, a cancellation): a half-open
                # probe must not stay counted as sent, or the breaker is shut for good.
                self.breaker.record_neutral()
                raise
            try:
                outcome = await self.adapter.create_order(req)
                outcome = settle_refusal(outcome, vendor_may_have_it or last is not None)
            except BaseException:
                # Adapters classify HTTP trouble; anything escaping is a bug or a cancellation.
                # Count it so a half-open trial is never left holding the breaker shut.
                self.breaker.record_failure()
                raise
            self.breaker.record(outcome)
            await journal.after_attempt(attempt, outcome)
            # A conflict is refused the same way however often it is sent: a look-up settles it.
            settled = not isinstance(outcome, Unknown) or outcome.reason == REFERENCE_CONFLICT
            if settled or attempt == attempts:
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

    async def lookup(
        self, reference: str, vendor_order_id: str | None = None
    ) -> VendorOrderView | None:
        """The vendor's record of our reference, paced and guarded like an attempt: a lookup
        takes a token from the vendor's bucket and is refused while the circuit is open."""
        if not self.breaker.allow():
            circuit = self._circuit_open()
            raise VendorUnavailable("circuit_open", circuit.detail, retry_after=circuit.retry_after)
        try:
            if self._limiter is not None:
                await self._limiter.acquire()
        except BaseException:
            self.breaker.record_neutral()  # nothing went out: the probe is handed back
            raise
        try:
            view = await self.adapter.get_order(reference, vendor_order_id)
        except VendorUnavailable as exc:
            if unhealthy_read(exc):
                self.breaker.record_failure()
            else:
                self.breaker.record_neutral()
            raise
        except BaseException:
            self.breaker.record_failure()  # never leave a probe holding the breaker shut
            raise
        self.breaker.record_success()
        if view is not None and view.reference != reference:
            # Asked by our reference, answered with another's record (a vendor that ignored the
            # filter): its status and card are someone else's and must never settle ours.
            detail = f"a look-up of {reference} was answered with {view.reference}"
            raise VendorUnavailable("bad_response", detail[:200])
        return view

    def _circuit_open(self) -> Unknown:
        retry_in = self.breaker.retry_in()
        return Unknown("circuit_open", f"{self.adapter.name} circuit is open", retry_after=retry_in)
