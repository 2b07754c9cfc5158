"""What text and moments from outside (a vendor, a merchant's webhook receiver, a file) may
carry into the log."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

# C0 and C1 controls: NUL cannot be stored in PostgreSQL's text or jsonb (an event holding one
# fails its append, ledger/log/events.py), and the others repaint the terminal of whoever reads
# the log.
CONTROL_CHARACTERS = re.compile("[\x00-\x1f\x7f-\x9f]")

# Where a msgspec pattern ends. Python's `$` also matches before a final newline, so "USD\n"
# passed r"^[A-Z]{3}$"; this matches only at the very end, in Python and in the ECMA-262
# regexes OpenAPI readers apply (which have no `\Z`).
END_OF_TEXT = r"$(?!\n)"


def printable(text: str) -> str:
    """Someone else's prose (a vendor's error, a webhook receiver's answer) as the log keeps it:
    control characters written out as \\xNN, so nothing they say can stop the event recording
    it from being appended."""
    return CONTROL_CHARACTERS.sub(lambda control: f"\\x{ord(control[0]):02x}", text)


# The years an outside moment may name. Every moment is stored in UTC, and one with no UTC
# equivalent (0001-01-01T00:00:00+01:00, .NET's DateTimeOffset.MinValue in a local zone) could
# be appended but never stored by a projection: the log would stall it for ever. No gift card
# record predates 1970, and a year past 2199 is a typo or a "never".
FIRST_YEAR, LAST_YEAR = 1970, 2199


def moment_problem(moment: datetime) -> str | None:
    """Why an outside moment cannot be kept (no UTC offset, or outside FIRST_YEAR to
    LAST_YEAR in UTC), or None."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        return "needs a UTC offset, like 2024-05-01T10:00:00Z"
    try:
        year = moment.astimezone(UTC).year
    except OverflowError:
        year = moment.year
    if not FIRST_YEAR <= year <= LAST_YEAR:
        return f"is outside the years {FIRST_YEAR} to {LAST_YEAR}"
    return None


# Every caller waits hours at most; a longer number is bounded so that it stays a finite float
# in the events that record it ("1" * 400 is inf to float(), and JSON has no inf).
LONGEST_RETRY_AFTER_S = 365 * 86_400.0


def retry_after_seconds(header: str | None, now: datetime) -> float | None:
    """A Retry-After header's wait from `now`: delta-seconds or an HTTP-date (RFC 9110, which
    are GMT); None when absent or unreadable. Delta-seconds are ASCII digits: "²" and "١٢"
    are digits to str.isdigit but not to float(), and one crashed whatever read it."""
    if not header:
        return None
    value = header.strip()
    if value.isascii() and value.isdigit():
        return min(float(value), LONGEST_RETRY_AFTER_S)
    try:
        at = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if at.tzinfo is None:  # "-0000": still GMT
        at = at.replace(tzinfo=UTC)
    return min(max(0.0, (at - now).total_seconds()), LONGEST_RETRY_AFTER_S)
