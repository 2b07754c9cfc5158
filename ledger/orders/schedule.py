"""When the completer works an unsettled order next (pure: the clock and the jitter are passed
in). Every step that leaves an order owed something (a timeout, a 429, an open circuit, a
vendor still working, a lookup that failed) appends the RetryScheduled this returns."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import NamedTuple

from ledger.log import events as ev
from ledger.orders.model import OrderState

# The longest backoff: a long vendor outage must not stretch recovery once the vendor is back.
BACKOFF_CAP_S = 300.0
# A vendor's Retry-After is obeyed up to this: a garbage header must not park an order for a
# year, and an hour is past any rate-limit window a vendor documents.
MAX_RETRY_AFTER_S = 3600.0
# 2**30 base periods is past any cap; the bound keeps the power from growing without end.
MAX_EXPONENT = 30


class RetryPolicy(NamedTuple):
    base_s: float  # Settings.completer_backoff_s: the first retry's ceiling
    cap_s: float = BACKOFF_CAP_S
    # Settings.vendor_not_found_settle_s: how old an unanswered attempt must be before a
    # look-up that finds nothing may send the order again.
    not_found_settle_s: float = 120.0


# Settings.completer_backoff_s's default, for callers that build no settings (tools, tests).
DEFAULT_POLICY = RetryPolicy(base_s=1.0)


def retry_scheduled(
    state: OrderState,
    reason: str,
    now: datetime,
    policy: RetryPolicy,
    jitter: float,
    retry_after: float | None = None,
) -> ev.RetryScheduled:
    """The next attempt after base * 2^retries (capped), never sooner than a Retry-After.

    Equal jitter (`jitter` in [0, 1)): half the period is fixed and half random, so orders that
    failed together do not return together, and none comes back sooner than half its backoff.
    """
    ceiling = min(policy.cap_s, policy.base_s * 2 ** min(state.retries, MAX_EXPONENT))
    delay = ceiling * (1 + jitter) / 2
    if retry_after is not None:
        delay = max(delay, min(retry_after, MAX_RETRY_AFTER_S))
    return ev.RetryScheduled(reason=reason, due_at=now + timedelta(seconds=delay), scheduled_at=now)
