"""When a failed delivery is tried again, and when it is given up (pure: the caller passes the
time and the random draw)."""

from __future__ import annotations

from datetime import datetime, timedelta

from ledger.text import retry_after_seconds

# The longest wait between two attempts: an endpoint back after an outage gets its events
# within the hour, and three days of retries are about a hundred attempts, not thousands.
MAX_DELAY_S = 3600.0
# A Retry-After beyond this is read as this: a receiver cannot push a delivery out of the
# retry window with one header.
MAX_RETRY_AFTER_S = 6 * 3600.0


def backoff_s(attempts: int, base_s: float, draw: float) -> float:
    """Seconds before attempt number attempts + 1: base doubling, capped, with equal jitter
    (half fixed, half drawn; draw in [0, 1)) so receivers are not hit in lockstep."""
    ceiling = min(MAX_DELAY_S, base_s * 2 ** min(attempts - 1, 30))
    return ceiling / 2 + ceiling / 2 * draw


def retry_after_s(header: str | None, now: datetime) -> float | None:
    """A Retry-After header's delay (seconds, or an HTTP date), bounded; None if absent or bad."""
    seconds = retry_after_seconds(header, now)
    return None if seconds is None else min(seconds, MAX_RETRY_AFTER_S)


def next_attempt(
    attempts: int,
    queued_at: datetime,
    now: datetime,
    *,
    base_s: float,
    window_s: float,
    draw: float,
    retry_after: float | None = None,
) -> datetime | None:
    """When to try again after `attempts` failed attempts, or None: give up (the next attempt
    would fall outside the retry window that began at queued_at)."""
    delay = backoff_s(attempts, base_s, draw)
    if retry_after is not None:
        delay = max(delay, retry_after)
    at = now + timedelta(seconds=delay)
    return at if at <= queued_at + timedelta(seconds=window_s) else None
