"""Every Tango answer to an order, as an outcome. Pure: the caller passes what was asked and
the time. Keys and statuses are from Tango's published error catalogue and developer pages
(docs/vendors.md marks which are unconfirmed)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import NamedTuple

import msgspec

from ledger.text import retry_after_seconds
from ledger.vendors.base import REFERENCE_CONFLICT, Outcome, Rejected, Unknown, answered
from ledger.vendors.tango import wire
from ledger.vendors.tango.records import card_of, order_status, vendor_minor
from ledger.vendors.transport import DETAIL_LIMIT, body_digest

# Tango's verdicts on the order itself: only these fail an order whose earlier attempt may
# have reached Tango. 402.001 insufficient funds, 403.016 fraud velocity, 404.033 unknown
# utid, and every 422 (amount out of range, precision, a required field).
_BUSINESS_KEYS = frozenset({"402.001", "403.016", "404.033"})
# "Another order with this externalRefID is in process" (retry after 2 s) and "already exists
# on your platform": both say Tango may hold the order, so only a look-up can settle it.
_IN_PROCESS = "409.002"
_EXISTS = "409.024"


class Asked(NamedTuple):
    utid: str
    amount_minor: int
    currency: str


def error_key(status: int, body: bytes) -> str:
    """Tango's i18nKey for an error body; a body that is not Tango's error type is kept as a
    size and a digest only (it may echo anything, a card included, into the permanent log)."""
    try:
        key = wire.error_decoder.decode(body).key()
    except (msgspec.DecodeError, msgspec.ValidationError):
        key = None
    return key[:DETAIL_LIMIT] if key is not None else body_digest(status, body)


def _success(status: int, body: bytes, asked: Asked) -> Outcome:
    try:
        order = wire.order_decoder.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        # Tango said yes but we cannot read what it holds: the order may well exist.
        return Unknown("server_error", f"undecodable {status} body: {exc}"[:DETAIL_LIMIT], status)
    held = vendor_minor(order.denomination)
    if held is None:
        detail = f"{order.reference_order_id}: no readable denomination to compare with ours"
        return Unknown("unexpected_reply", detail, status)
    if order.utid != asked.utid or held != (asked.amount_minor, asked.currency):
        # A repeated externalRefID answers with the order Tango already holds, whatever was
        # asked: another order's answer is never this order's success.
        vendor_id = order.reference_order_id
        detail = f"Tango holds {vendor_id} under this reference, for {order.utid} {held}"
        return Rejected(REFERENCE_CONFLICT, detail[:DETAIL_LIMIT], status, order.reference_order_id)
    return answered(
        order_status(order.status),
        order.reference_order_id,
        order.status,
        status,
        card_of(order.reward),
    )


def classify(
    status: int, headers: Mapping[str, str], body: bytes, asked: Asked, now: datetime
) -> Outcome:
    """One answer to POST /raas/v2/orders: 201 new, 200 the order Tango already held."""
    if status in (200, 201):
        return _success(status, body, asked)
    key = error_key(status, body)
    retry_after = retry_after_seconds(headers.get("Retry-After"), now)
    if status == 429 or key == _IN_PROCESS:
        return Unknown("rate_limited", key, status, retry_after)
    if key == _EXISTS:
        return Unknown(REFERENCE_CONFLICT, f"{key}: Tango already holds this reference", status)
    if status >= 500 or status == 408:
        # Tango: a 5xx on POST /orders may still have been processed; retry with the same key.
        return Unknown("server_error", key, status, retry_after)
    if 400 <= status < 500:
        business = key in _BUSINESS_KEYS or key.startswith("422.")
        return Rejected(key.split(":")[0], key, status, business=business)
    return Unknown("server_error", f"unexpected status {status}", status)
