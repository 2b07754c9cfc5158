"""Every Giftbit answer to an order, as an outcome. Pure: the caller passes what was asked and
the time. Only 200 is success at Giftbit; insufficient funds is a 200 too (AWAITING_FUNDS:
Giftbit sends the links by itself once funded, so it is pending, never resent)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import NamedTuple

import msgspec

from ledger.text import retry_after_seconds
from ledger.vendors.base import REFERENCE_CONFLICT, Outcome, Rejected, Unknown, answered
from ledger.vendors.giftbit import wire
from ledger.vendors.giftbit.records import CAMPAIGN_STATUSES, card_of
from ledger.vendors.transport import DETAIL_LIMIT, body_digest, refused

# Giftbit's verdicts on the order itself: an unknown brand (ERROR_CAMPAIGN_INVALID_BRAND,
# ERROR_BRANDS_NO_SUCH_BRAND, any 422: valid format, invalid values) and a failed charge (402).
_BUSINESS_STATUSES = frozenset({402, 422})


class Asked(NamedTuple):
    brand_code: str
    price_in_cents: int


def error_code(status: int, body: bytes) -> str:
    """Giftbit's ERROR_ code; a body that is not its error type is kept as a digest."""
    try:
        return wire.error_decoder.decode(body).error.code[:DETAIL_LIMIT]
    except (msgspec.DecodeError, msgspec.ValidationError):
        return body_digest(status, body)


def _success(body: bytes, asked: Asked) -> Outcome:
    try:
        answer = wire.campaign_decoder.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        # Giftbit said yes but we cannot read what it holds: the order may well exist.
        return Unknown("server_error", f"undecodable 200 body: {exc}"[:DETAIL_LIMIT], 200)
    campaign = answer.campaign
    if (campaign.brand_codes, campaign.price_in_cents) != (
        [asked.brand_code],
        asked.price_in_cents,
    ):
        # Whatever Giftbit answers a repeated id with, another order is never this one's success.
        detail = f"Giftbit holds {campaign.uuid} under this id, for {campaign.brand_codes}"
        return Rejected(REFERENCE_CONFLICT, detail[:DETAIL_LIMIT], 200, campaign.uuid)
    ours = CAMPAIGN_STATUSES.get(campaign.status)
    return answered(ours, campaign.uuid, campaign.status, 200, card_of(answer.direct_links))


def classify(
    status: int, headers: Mapping[str, str], body: bytes, asked: Asked, now: datetime
) -> Outcome:
    """One answer to POST /direct_links."""
    if status == 200:
        return _success(body, asked)
    code = error_code(status, body)
    retry_after = retry_after_seconds(headers.get("Retry-After"), now)
    return refused(status, code, retry_after, business=status in _BUSINESS_STATUSES)
