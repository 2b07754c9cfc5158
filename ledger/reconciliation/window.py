"""Pure time arithmetic for reconciliation: business-day windows, the schedule, page backoff.

No clock, no I/O: `now` and the zone (a tzinfo built at the edge, since loading a zone reads the
tz database) are passed in. Windows are half-open, [start, end), and returned in UTC.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, tzinfo

from ledger.text import moment_problem

# Consecutive days' windows overlap by this much on each side. An order sent at 23:59:59 may be
# stamped 00:00:02 by the vendor; vendor and our clocks drift; and a vendor that stamps local
# time with the wrong DST offset is off by exactly one hour. An hour covers all three, and a
# record seen by two runs costs one more observation, which matching already expects.
DEFAULT_OVERLAP = timedelta(hours=1)
# The vendor is listed from this long before a window's start. Missing orders are judged among
# ours created in the window, by this run's sightings alone, so an order we stamped just after
# the start that a vendor whose clock is behind stamped just before it would be reported
# missing; overlapping windows do not help, since each run judges from its own start. The end
# has the same grace the other way (the discrepancy projection's MISSING_GRACE).
LISTING_LEAD = timedelta(minutes=10)
# One run is one vendor listing under one lease; finance reconciles by day, and a month bounds
# how long a run (and its lease) can take. Longer audits are run month by month.
MAX_WINDOW = timedelta(days=31)
# The nightly run starts well after midnight, so the previous day's window (plus its overlap)
# has closed and late vendor writes have settled.
DEFAULT_SCHEDULE_AT = time(2, 0)
# Page retries back off 1, 2, 4, 8, 16 s: a vendor's blip or deploy is ridden out within half a
# minute; longer outages leave the run resumable instead of holding it open.
PAGE_BACKOFF_BASE_S = 1.0
# No single wait, even one a Retry-After header asks for, exceeds a minute: past that the run
# gives up and is resumed later rather than sleeping with its lease held.
PAGE_BACKOFF_MAX_S = 60.0


class WindowError(ValueError):
    """A window a caller asked for cannot be run; `field` names the bound that is wrong."""

    def __init__(self, reason: str, *, field: str) -> None:
        super().__init__(reason)
        self.reason, self.field = reason, field


def _midnight(day: date, zone: tzinfo) -> datetime:
    # Compared and returned in UTC: aware datetimes sharing a tzinfo compare as wall times.
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def scheduled_window(
    business_date: date, tz: tzinfo, overlap: timedelta = DEFAULT_OVERLAP
) -> tuple[datetime, datetime]:
    """[local midnight - overlap, next local midnight + overlap) of the business date, in UTC.

    DST days are 23 or 25 hours long: the window follows the zone's midnights, not 24 hours.
    """
    if overlap < timedelta(0):
        raise ValueError("overlap must not be negative")
    start = _midnight(business_date, tz)
    end = _midnight(business_date + timedelta(days=1), tz)
    return start - overlap, end + overlap


def _fire_time(local_day: date, tz: tzinfo, at: time) -> datetime:
    return datetime.combine(local_day, at, tzinfo=tz).astimezone(UTC)


def due_business_date(now: datetime, tz: tzinfo, at: time = DEFAULT_SCHEDULE_AT) -> date:
    """The latest business date whose nightly run (the next local day at `at`) is due by now."""
    today = now.astimezone(tz).date()
    if now >= _fire_time(today, tz, at):
        return today - timedelta(days=1)
    return today - timedelta(days=2)


def days_to_catch_up(due: date, earliest: date, lookback: int) -> list[date]:
    """Every business date from the oldest the schedule still owes to `due`, oldest first:
    `lookback` days back at most, and none before the log's first event (a new install owes
    nothing for the days before it existed)."""
    first = max(due - timedelta(days=lookback - 1), earliest)
    return [first + timedelta(days=n) for n in range((due - first).days + 1)]


def next_run_at(now: datetime, tz: tzinfo, at: time = DEFAULT_SCHEDULE_AT) -> datetime:
    """The first local `at` strictly after now, in UTC."""
    today = now.astimezone(tz).date()
    fire = _fire_time(today, tz, at)
    return fire if now < fire else _fire_time(today + timedelta(days=1), tz, at)


def previous_business_date(now: datetime, tz: tzinfo) -> date:
    """Yesterday in the business time zone: what an unqualified "reconcile" means."""
    return now.astimezone(tz).date() - timedelta(days=1)


def scheduled_run_id(vendor: str, business_date: date) -> str:
    """Deterministic, so every node names the night's run alike and only one of them runs it."""
    return f"scheduled-{vendor}-{business_date.isoformat()}"


def check_window(start: datetime, end: datetime, max_window: timedelta = MAX_WINDOW) -> None:
    """Raise WindowError unless [start, end) is zoned, non-empty and at most max_window."""
    for field, moment in (("from", start), ("to", end)):
        if (problem := moment_problem(moment)) is not None:
            raise WindowError(f"{field} {problem}", field=field)
    if end <= start:
        raise WindowError("the window is empty or reversed: to must be after from", field="to")
    if end - start > max_window:
        days = max_window.days
        raise WindowError(f"the window is longer than {days} days; run it in parts", field="to")


def page_backoff(retry: int, retry_after: float | None = None) -> float:
    """Seconds before retry number `retry` (0-based) of one page: doubling, bounded, and never
    sooner than the vendor's Retry-After (itself capped)."""
    delay = min(PAGE_BACKOFF_MAX_S, PAGE_BACKOFF_BASE_S * 2 ** min(retry, 16))
    if retry_after is not None:
        delay = max(delay, min(retry_after, PAGE_BACKOFF_MAX_S))
    return delay
