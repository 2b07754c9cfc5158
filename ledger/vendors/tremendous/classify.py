"""Every Tremendous answer to an order, as an outcome. Pure: the caller passes what was asked
and the time. Tremendous' errors carry no code, so the HTTP status is the verdict."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import NamedTuple

import msgspec

from ledger.text import retry_after_seconds
from ledger.vendors.base import REFERENCE_CONFLICT, Outcome, Rejected, Unknown, answered
from ledger.vendors.transport import DETAIL_LIMIT, body_digest, refused
from ledger.vendors.tremendous import wire
from ledger.vendors.tremendous.records import card_of, order_status, order_value

# Tremendous' verdicts on the order itself: a request it refuses as invalid (400, 422: an
# unknown product, a denomination out of range) or cannot fund (402).
_BUSINESS_STATUSES = frozenset({400, 402, 422})


class Asked(NamedTuple):
    amount_minor: int
    currency: str


def error_message(status: int, body: bytes) -> str:
    """Tremendous' error message; a body that is not its error type is kept as a digest."""
    try:
        message = wire.error_decoder.decode(body).errors.message
    except (msgspec.DecodeError, msgspec.ValidationError):
        return body_digest(status, body)
    return f"http_{status}: {message}"[:DETAIL_LIMIT]


def _success(status: int, body: bytes, asked: Asked) -> Outcome:
    try:
        order = wire.order_decoder.decode(body).order
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        # Tremendous said yes but we cannot read what it holds: the order may well exist.
        return Unknown("server_error", f"undecodable {status} body: {exc}"[:DETAIL_LIMIT], status)
    held = order_value(order)
    if held is None:
        return Unknown("unexpected_reply", f"{order.id}: no single readable reward", status)
    if held != tuple(asked):
        # Tremendous answers 409 to a changed payload; an answer for another amount is still
        # never this order's success.
        detail = f"Tremendous holds {order.id} under this reference, for {held}"
        return Rejected(REFERENCE_CONFLICT, detail, status, order.id)
    return answered(order_status(order.status), order.id, order.status, status, card_of(order))


def classify(
    status: int, headers: Mapping[str, str], body: bytes, asked: Asked, now: datetime
) -> Outcome:
    """One answer to POST /api/v2/orders: 200 new, 201 the order held for this external_id."""
    if status in (200, 201):
        return _success(status, body, asked)
    message = error_message(status, body)
    retry_after = retry_after_seconds(headers.get("Retry-After"), now)
    if status == 409:
        # The external_id is taken by another payload: never this order's success, and no
        # retry with this reference can change it.
        return Rejected(REFERENCE_CONFLICT, message, status)
    return refused(status, message, retry_after, business=status in _BUSINESS_STATUSES)
