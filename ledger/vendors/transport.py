"""One HTTP exchange with a vendor, for every adapter: an order attempt is classified, a read
either answers 200 or raises VendorUnavailable. Nothing here knows a vendor's dialect.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import aiohttp
import msgspec

from ledger.text import retry_after_seconds
from ledger.vendors.base import Outcome, Rejected, Unknown, VendorUnavailable

# Vendor error bodies and odd replies are quoted in outcomes and events; a bound keeps a vendor
# returning an HTML error page from bloating the log.
DETAIL_LIMIT = 200

T = TypeVar("T")
Classify = Callable[[int, Mapping[str, str], bytes], Outcome]


def body_digest(status: int, body: bytes) -> str:
    """What is kept of an error body that is not the vendor's error type: it could be anything,
    the order and its card echoed back included, and what is quoted goes into the permanent
    log. Its size and a digest (to match it against the vendor's own logs) are kept."""
    return f"http_{status}: {len(body)}-byte body, sha256 {hashlib.sha256(body).hexdigest()}"


def refused(status: int, detail: str, retry_after: float | None, *, business: bool) -> Outcome:
    """What a non-success answer to an order means once the vendor's own special cases are
    taken: 429 and 5xx (and 408) leave the order open; another 4xx refuses it, as the vendor's
    verdict when `business`; anything else says nothing about whether the order exists."""
    if status == 429:
        return Unknown("rate_limited", detail, status, retry_after)
    if status >= 500 or status == 408:
        return Unknown("server_error", detail, status, retry_after)
    if 400 <= status < 500:
        return Rejected(detail.split(":")[0], detail, status, business=business)
    return Unknown("server_error", f"unexpected status {status}", status)


def offset_cursor(start: datetime, end: datetime, cursor: str | None, vendor: str) -> int:
    """The position a paged listing's cursor holds (0 to begin), bounds checked."""
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("transaction window bounds must be timezone-aware")
    try:
        return int(cursor) if cursor else 0
    except ValueError:
        raise ValueError(f"cursor was not issued by this {vendor} listing") from None


async def attempt(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    classify: Classify,
    *,
    within: aiohttp.ClientTimeout,
    **request: Any,
) -> Outcome:
    """Exactly one order attempt; HTTP and network trouble are classified, never raised."""
    try:
        # Redirects are not followed: a POST must not silently turn into a GET.
        async with session.request(
            method, url, timeout=within, allow_redirects=False, **request
        ) as resp:
            return classify(resp.status, resp.headers, await resp.read())
    # TimeoutError first: aiohttp's timeout errors also subclass ClientConnectionError.
    except TimeoutError as exc:
        return Unknown("timeout", f"no reply within {within.total}s: {exc!r}")
    except aiohttp.ClientError as exc:
        return Unknown("connection", f"{type(exc).__name__}: {exc}"[:DETAIL_LIMIT])


async def read(
    session: aiohttp.ClientSession,
    url: str,
    error_code: Callable[[int, bytes], str],
    now: Callable[[], datetime],
    *,
    within: aiohttp.ClientTimeout,
    method: str = "GET",
    **request: Any,
) -> bytes:
    """A read's 200 body; anything else raises VendorUnavailable (the adapter decides what,
    if anything, means absence: never a bare status)."""
    try:
        async with session.request(
            method, url, timeout=within, allow_redirects=False, **request
        ) as resp:
            payload = await resp.read()
            if resp.status == 200:
                return payload
            raise VendorUnavailable(
                f"http_{resp.status}",
                error_code(resp.status, payload),
                http_status=resp.status,
                retry_after=retry_after_seconds(resp.headers.get("Retry-After"), now()),
            )
    except TimeoutError as exc:
        raise VendorUnavailable("timeout", repr(exc)) from exc
    except aiohttp.ClientError as exc:
        raise VendorUnavailable("connection", f"{type(exc).__name__}: {exc}") from exc


def decode_read(decoder: msgspec.json.Decoder[T], body: bytes) -> T:
    """A 200 body the vendor's type must describe; anything else is an unusable answer."""
    try:
        return decoder.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise VendorUnavailable("bad_response", str(exc)[:DETAIL_LIMIT], http_status=200) from exc


def iso_utc(moment: datetime) -> str:
    """A listing bound as vendors read it: RFC 3339 in UTC with a Z."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def utcnow() -> datetime:
    return datetime.now(UTC)


class HttpVendor:
    """What every HTTP adapter holds (its name, key retention, base URL, session, attempt
    timeout, clock and authorization) and its two kinds of exchange, bound to them."""

    looks_up_by_reference = True

    def __init__(
        self,
        name: str,
        base_url: str,
        session: aiohttp.ClientSession,
        authorization: str | None,
        attempt_timeout: float,
        key_retention: timedelta,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.name = name
        self.key_retention = key_retention
        self._base = base_url.rstrip("/")
        self._session = session
        self._timeout = aiohttp.ClientTimeout(total=attempt_timeout)
        self._clock = clock
        self._headers = {"Accept": "application/json", "Content-Type": "application/json"}
        if authorization:
            self._headers["Authorization"] = authorization

    async def _attempt(
        self, path: str, classify: Callable[[int, Mapping[str, str], bytes, datetime], Outcome],
        body: bytes, headers: Mapping[str, str] | None = None,
    ) -> Outcome:  # fmt: skip
        return await attempt(
            self._session,
            "POST",
            f"{self._base}{path}",
            lambda status, answer_headers, answer: classify(
                status, answer_headers, answer, self._clock()
            ),
            within=self._timeout,
            data=body,
            headers=self._headers | dict(headers or {}),
        )

    async def _read(
        self,
        path: str,
        error_code: Callable[[int, bytes], str],
        *,
        params: Mapping[str, str] | None = None,
        method: str = "GET",
        headers: Mapping[str, str] | None = None,
    ) -> bytes:
        return await read(
            self._session,
            f"{self._base}{path}",
            error_code,
            self._clock,
            within=self._timeout,
            method=method,
            params=dict(params or {}),
            headers=self._headers | dict(headers or {}),
        )
