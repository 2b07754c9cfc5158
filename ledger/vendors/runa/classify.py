"""Every Runa answer to an order, as an outcome, by Runa's error `type`. Pure: the caller
passes what was asked and the time. Runa replays the first answer to a key for 30 days, 4xx
and 5xx included."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import NamedTuple

import msgspec

from ledger.text import retry_after_seconds
from ledger.vendors.base import REFERENCE_CONFLICT, Outcome, Rejected, Unknown, answered
from ledger.vendors.runa import wire
from ledger.vendors.runa.records import STATUSES, card_of, face_value
from ledger.vendors.transport import DETAIL_LIMIT, body_digest

# Runa's verdicts on the order itself.
_BUSINESS_TYPES = frozenset({"insufficient_funds", "validation_error"})
# Runa asks for at least this long after a 429, whatever Retry-After says.
MIN_RATE_LIMIT_WAIT_S = 5.0


class Asked(NamedTuple):
    amount_minor: int
    currency: str


def error_type(status: int, body: bytes) -> str:
    try:
        return wire.error_decoder.decode(body).type[:DETAIL_LIMIT]
    except (msgspec.DecodeError, msgspec.ValidationError):
        return body_digest(status, body)


def _success(status: int, body: bytes, asked: Asked) -> Outcome:
    try:
        order = wire.order_decoder.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        # Runa said yes but we cannot read what it holds: the order may well exist.
        return Unknown("server_error", f"undecodable {status} body: {exc}"[:DETAIL_LIMIT], status)
    held = face_value(order)
    if order.items and held is None:
        # Runa may well hold it: an amount we cannot read is never taken for the one asked.
        detail = f"{order.id}: no readable face value to compare with ours"
        return Unknown("unexpected_reply", detail, status)
    if order.items and held != tuple(asked):
        detail = f"Runa holds {order.id} under this key, for {held}"
        return Rejected(REFERENCE_CONFLICT, detail, status, order.id)
    # A PROCESSING order's body is partial (no items yet): it is the order, pending.
    return answered(STATUSES.get(order.status), order.id, order.status, status, card_of(order))


def classify(
    status: int, headers: Mapping[str, str], body: bytes, asked: Asked, now: datetime
) -> Outcome:
    """One answer to POST /v2/order."""
    if status in (200, 201, 202):
        return _success(status, body, asked)
    kind = error_type(status, body)
    retry_after = retry_after_seconds(headers.get("Retry-After"), now)
    if kind == "idempotency_in_progress" or status == 102:
        # The first request with this key is still running at Runa: come back, same key.
        return Unknown("rate_limited", kind, status, retry_after)
    if status == 429:
        wait = max(retry_after or 0.0, MIN_RATE_LIMIT_WAIT_S)
        return Unknown("rate_limited", kind, status, wait)
    if kind == "idempotency_validation_error":
        # The key was used with another body: never this order's success, nor retriable.
        return Rejected(REFERENCE_CONFLICT, kind, status)
    if status >= 500 or status == 408:
        return Unknown("server_error", kind, status, retry_after)
    if 400 <= status < 500:
        return Rejected(kind.split(":")[0], kind, status, business=kind in _BUSINESS_TYPES)
    return Unknown("server_error", f"unexpected status {status}", status)
