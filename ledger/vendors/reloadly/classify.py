"""Every Reloadly answer to an order, as an outcome. Pure: the caller passes what was asked
and the time. Reloadly's errors carry an errorCode only sometimes (null on most 400s and
404s), so the HTTP status is most of the verdict."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import NamedTuple

import msgspec

from ledger.text import retry_after_seconds
from ledger.vendors.base import REFERENCE_CONFLICT, Outcome, Rejected, Unknown, answered
from ledger.vendors.reloadly import wire
from ledger.vendors.reloadly.records import STATUSES, face_value
from ledger.vendors.transport import DETAIL_LIMIT, body_digest, refused

# A 401 with these is our token, not the order: refresh it and send again, once.
TOKEN_ERRORS = frozenset({"INVALID_TOKEN", "TOKEN_EXPIRED"})
# Reloadly's verdicts on the order itself: a price or product it refuses (400), what it cannot
# find (404 on /orders: the product), and a balance it cannot charge (402, unconfirmed).
_BUSINESS_STATUSES = frozenset({400, 402, 404, 422})


class Asked(NamedTuple):
    product_id: int
    amount_minor: int
    currency: str


def error_code(status: int, body: bytes) -> str:
    """Reloadly's errorCode (else `http_<status>: message`); a body that is not its error
    type is kept as a digest."""
    try:
        error = wire.error_decoder.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return body_digest(status, body)
    return (error.error_code or f"http_{status}: {error.message}")[:DETAIL_LIMIT]


def transaction_outcome(transaction: wire.Transaction, asked: Asked, status: int) -> Outcome:
    held = face_value(transaction)
    vendor_id = str(transaction.transaction_id)
    if held is None:
        # Reloadly may have charged it: only a look-up, never a refusal, can settle it.
        detail = f"{vendor_id}: no readable unit price to compare with ours"
        return Unknown("unexpected_reply", detail, status)
    if transaction.product.product_id != asked.product_id or held != asked[1:]:
        # Never another order's answer as this one's success, whatever a repeat returned.
        detail = f"Reloadly holds {vendor_id} under this reference, for {held}"
        return Rejected(REFERENCE_CONFLICT, detail[:DETAIL_LIMIT], status, vendor_id)
    ours = STATUSES.get(transaction.status)
    # The codes come from a second read: a successful order's card is fetched by the adapter.
    return answered(ours, vendor_id, transaction.status, status, None)


def classify(
    status: int, headers: Mapping[str, str], body: bytes, asked: Asked, now: datetime
) -> Outcome:
    """One answer to POST /orders."""
    if status == 200:
        try:
            transaction = wire.transaction_decoder.decode(body)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            detail = f"undecodable 200 body: {exc}"[:DETAIL_LIMIT]
            return Unknown("server_error", detail, status)
        return transaction_outcome(transaction, asked, status)
    code = error_code(status, body)
    retry_after = retry_after_seconds(headers.get("Retry-After"), now)
    return refused(status, code, retry_after, business=status in _BUSINESS_STATUSES)
