"""Query parameters: each bad one is a 400 that names it. Keyset cursors are opaque tokens."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Collection, Mapping
from datetime import UTC, date, datetime

import msgspec

from ledger.http.problems import Problem
from ledger.money import MoneyError, exponent
from ledger.text import moment_problem

# One page of a list endpoint; large enough for a screen, small enough to stay fast.
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
# What no path segment, query value or cursor of ours may hold: control characters (NUL cannot
# even be stored as text), and what percent-decoding leaves of bytes that are not UTF-8 (yarl
# keeps them as lone surrogates or U+FFFD).
BAD_CHARACTERS = re.compile("[\x00-\x1f\x7f\ud800-\udfff\ufffd]")
# Business days a range may name. No ledger holds a day before 1970, and a range is widened by
# days either side (a report's look-back, an exclusive end), which the calendar's ends refuse.
FIRST_DAY, LAST_DAY = date(1970, 1, 1), date(9998, 12, 31)


def _bad(name: str, detail: str) -> Problem:
    return Problem(400, "invalid_parameter", f"{name}: {detail}", field=name)


def choice(query: Mapping[str, str], name: str, allowed: Collection[str]) -> str | None:
    value = query.get(name)
    if value is not None and value not in allowed:
        raise _bad(name, f"must be one of {', '.join(sorted(allowed))}")
    return value


def moment(query: Mapping[str, str], name: str) -> datetime | None:
    """An ISO 8601 date (midnight UTC) or date-time with an offset."""
    value = query.get(name)
    if value is None:
        return None
    try:
        if len(value) == 10:
            return datetime.combine(date.fromisoformat(value), datetime.min.time(), UTC)
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise _bad(name, "must be an ISO 8601 date or date-time") from None
    if parsed.tzinfo is None:
        raise _bad(name, "a date-time needs a UTC offset, e.g. 2026-01-31T00:00:00Z")
    return parsed


def window(query: Mapping[str, str]) -> tuple[datetime | None, datetime | None]:
    start, end = moment(query, "from"), moment(query, "to")
    if start and end and start > end:
        raise _bad("from", "must not be after to")
    return start, end


def limit(query: Mapping[str, str]) -> int:
    raw = query.get("limit", str(DEFAULT_LIMIT))
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_LIMIT:
        raise _bad("limit", f"must be a whole number from 1 to {MAX_LIMIT}")
    return int(raw)


def encode_cursor(values: list) -> str:
    return base64.urlsafe_b64encode(msgspec.json.encode(values)).decode().rstrip("=")


def decode_cursor(query: Mapping[str, str], types: type) -> object | None:
    raw = query.get("after")
    if raw is None:
        return None
    try:
        cursor = msgspec.json.decode(
            base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)), type=types
        )
    except (binascii.Error, ValueError, msgspec.DecodeError, msgspec.ValidationError):
        raise _bad("after", "is not a cursor this API returned") from None
    # Its parts go to SQL: a crafted one holding NUL, or a moment with no UTC equivalent,
    # would be refused there, as a 500.
    parts = cursor if isinstance(cursor, tuple | list) else (cursor,)
    if any(_unqueryable(part) for part in parts):
        raise _bad("after", "is not a cursor this API returned")
    return cursor


def _unqueryable(part: object) -> bool:
    if isinstance(part, str):
        return BAD_CHARACTERS.search(part) is not None
    return isinstance(part, datetime) and moment_problem(part) is not None


def day(query: Mapping[str, str], name: str, default: date | None = None) -> date:
    value = query.get(name) or None  # an HTML form's empty box is a value not given
    if value is None:
        if default is None:
            raise _bad(name, "is required (YYYY-MM-DD)")
        return default
    try:
        if len(value) != 10:
            raise ValueError(value)
        parsed = date.fromisoformat(value)
    except ValueError:
        raise _bad(name, "must be a date as YYYY-MM-DD") from None
    if not FIRST_DAY <= parsed <= LAST_DAY:
        raise _bad(name, f"must be between {FIRST_DAY} and {LAST_DAY}")
    return parsed


def currency(query: Mapping[str, str]) -> str | None:
    value = query.get("currency") or None  # an HTML form's empty box: every currency
    if value is None:
        return None
    try:
        exponent(value)
    except MoneyError as exc:
        raise _bad("currency", exc.reason) from None
    return value
