"""The circuit breaker: stop calling a vendor that is down, not one that is merely noisy.

It opens on a failure *rate* over a sliding time window, and only once the window holds enough
calls to mean something: at the fault rates real vendors show (a 10% 5xx rate, a few hung
requests), five failures in a row happen every few hundred calls, and a breaker that opened on
them stopped all traffic for its whole reset period again and again. Only failures that say the
vendor is unwell count (no answer, a 5xx); a 429 is a healthy vendor pacing us. Open, it lets a
few probe calls through after `open_for_s`; all of them succeeding closes it, any failing opens
it again for another period.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import Literal

from ledger.vendors.base import UNHEALTHY, Outcome, Unknown

BreakerState = Literal["closed", "open", "half_open"]
BREAKER_STATES: tuple[BreakerState, ...] = ("closed", "open", "half_open")

# Half of the calls in the window failing is a vendor in trouble; below that, retries with the
# same key ride the faults out and stopping traffic would only delay orders.
DEFAULT_FAILURE_RATE = 0.5
# Fewer calls than this say nothing about the rate (3 of 4 failing is bad luck at 40% faults).
DEFAULT_MINIMUM_CALLS = 20
# Long enough to hold a rate over tens of calls, short enough to forget a recovered outage.
DEFAULT_WINDOW_S = 30.0
# How long an open breaker waits before probing: a restarting vendor or an expiring rate window.
DEFAULT_OPEN_FOR_S = 15.0
# Probes let through half-open: more than one, so one unlucky fault does not re-open it.
DEFAULT_PROBES = 3


class CircuitBreaker:
    """Shared by every call to one vendor. Rejections and lookups that answer count as
    successes: a vendor that says "no" is up."""

    def __init__(
        self,
        *,
        failure_rate: float = DEFAULT_FAILURE_RATE,
        minimum_calls: int = DEFAULT_MINIMUM_CALLS,
        window_s: float = DEFAULT_WINDOW_S,
        open_for_s: float = DEFAULT_OPEN_FOR_S,
        probes: int = DEFAULT_PROBES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 0 < failure_rate <= 1 or minimum_calls < 1 or window_s <= 0:
            raise ValueError("need 0 < failure_rate <= 1, minimum_calls >= 1, window_s > 0")
        if open_for_s <= 0 or probes < 1:
            raise ValueError("need open_for_s > 0 and probes >= 1")
        self._rate, self._minimum, self._window = failure_rate, minimum_calls, window_s
        self._open_for, self._probes, self._clock = open_for_s, probes, clock
        self._calls: deque[tuple[float, bool]] = deque()  # (when, failed), oldest first
        self._opened_at: float | None = None
        self._probes_sent = self._probes_passed = 0

    @property
    def state(self) -> BreakerState:
        if self._opened_at is None:
            return "closed"
        if self._probes_sent or self._clock() - self._opened_at >= self._open_for:
            return "half_open"
        return "open"

    def retry_in(self) -> float:
        """Seconds until calls may go out again (0 unless open)."""
        if self.state != "open" or self._opened_at is None:
            return 0.0
        return max(0.0, self._opened_at + self._open_for - self._clock())

    def allow(self) -> bool:
        """May a call go out now? Half-open, up to `probes` calls are let through."""
        state = self.state
        if state == "closed":
            return True
        if state == "half_open" and self._probes_sent < self._probes:
            self._probes_sent += 1
            return True
        return False

    def record(self, outcome: Outcome) -> None:
        if isinstance(outcome, Unknown):
            if outcome.reason in UNHEALTHY:
                self.record_failure()
            else:
                self.record_neutral()  # paced or refused by config: says nothing either way
            return
        self.record_success()

    def record_success(self) -> None:
        if self._opened_at is not None:
            self._probes_passed += 1
            if self._probes_passed >= self._probes:
                self._close()
            return
        self._observe(failed=False)

    def record_failure(self) -> None:
        if self._opened_at is not None:
            self._open()  # a failed probe: another full period before the next ones
            return
        self._observe(failed=True)
        failures = sum(failed for _, failed in self._calls)
        if len(self._calls) >= self._minimum and failures >= self._rate * len(self._calls):
            self._open()

    def _observe(self, *, failed: bool) -> None:
        now = self._clock()
        self._calls.append((now, failed))
        while self._calls and self._calls[0][0] <= now - self._window:
            self._calls.popleft()

    def record_neutral(self) -> None:
        """A call that says nothing about the vendor's health (a 429, a 401)."""
        if self._opened_at is not None and self._probes_sent > self._probes_passed:
            self._probes_sent -= 1  # the probe learned nothing: let another one go

    def _open(self) -> None:
        self._opened_at = self._clock()
        self._probes_sent = self._probes_passed = 0
        self._calls.clear()

    def _close(self) -> None:
        self._opened_at = None
        self._probes_sent = self._probes_passed = 0
        self._calls.clear()
