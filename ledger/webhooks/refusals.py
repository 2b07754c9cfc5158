"""How many refused webhooks the inbox keeps: a budget per vendor (pure: the caller passes a
monotonic clock reading).

A refusal is anyone's request: a vendor name is all it takes to be answered and, before this,
recorded. The answer never changes (401 or 400, counted in /metrics either way); only the row
is rationed, so a flood cannot fill the table or turn every request into a database write,
while a few a minute still show an operator which check a misconfigured vendor fails.
"""

from __future__ import annotations

# Seconds in the budget's period: VENDOR_WEBHOOK_REFUSALS_KEPT_PER_MINUTE says "a minute".
_PERIOD_S = 60.0


class RefusalBudget:
    """A token bucket per vendor: up to `per_minute` kept at once, refilled at that many a
    minute. Per process: each node keeps its own share, which is what bounds its writes."""

    def __init__(self, per_minute: int) -> None:
        self._capacity = float(per_minute)
        self._per_s = per_minute / _PERIOD_S
        self._buckets: dict[str, tuple[float, float]] = {}  # vendor -> (tokens, as of)

    def take(self, vendor: str, now: float) -> bool:
        """True if this vendor's refusal may be kept now, spending one of its tokens."""
        tokens, as_of = self._buckets.get(vendor, (self._capacity, now))
        tokens = min(self._capacity, tokens + (now - as_of) * self._per_s)
        kept = tokens >= 1.0
        self._buckets[vendor] = (tokens - 1.0 if kept else tokens, now)
        return kept
