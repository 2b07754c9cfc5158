"""Giftbit's records as ours: statuses, times (Pacific) and the link, from its wire types. Pure."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from ledger.vendors.base import CardSecret, VendorOrderView, VendorStatus, VendorUnavailable
from ledger.vendors.giftbit import wire
from ledger.vendors.transport import DETAIL_LIMIT

# Giftbit's dates are Pacific time without an offset (its API blueprint says so for /gifts).
GIFTBIT_ZONE = ZoneInfo("America/Los_Angeles")
_STAMP = "%Y-%m-%d %H:%M:%S"

# A campaign (an order): created links are fulfilled; one still being created, or waiting for
# funds (Giftbit sends it by itself once funded), is pending.
CAMPAIGN_STATUSES: dict[str, VendorStatus] = {
    "CAMPAIGN_CREATED": "fulfilled",
    "API_CREATING": "pending",
    "AWAITING_FUNDS": "pending",
}
# A gift (a campaign's one link, as listed): redeemable, redeemed or expired were charged; one
# the giver cancelled was refunded.
GIFT_STATUSES: dict[str, VendorStatus] = {
    "SENT_AND_REDEEMABLE": "fulfilled",
    "REDEEMED": "fulfilled",
    "EXPIRED": "fulfilled",
    "GIVER_CANCELLED": "refunded",
}


def giftbit_time(stamp: str) -> datetime:
    """Giftbit's "yyyy-MM-dd HH:mm:ss" (Pacific) as an aware UTC datetime."""
    return datetime.strptime(stamp, _STAMP).replace(tzinfo=GIFTBIT_ZONE).astimezone(UTC)


def giftbit_stamp(moment: datetime) -> str:
    return moment.astimezone(GIFTBIT_ZONE).strftime(_STAMP)


def card_of(links: list[str]) -> CardSecret | None:
    """Giftbit hands out a reward link, never a code or PIN: the link is the code."""
    return CardSecret(links[0], None, links[0]) if links else None


def gift_view(gift: wire.Gift, currency: str) -> VendorOrderView:
    status = GIFT_STATUSES.get(gift.status)
    try:
        created = giftbit_time(gift.created_date)
    except ValueError:
        created = None
    if status is None or created is None:
        detail = f"gift {gift.uuid}: status {gift.status!r}, created {gift.created_date!r}"
        raise VendorUnavailable("bad_response", detail[:DETAIL_LIMIT], http_status=200)
    return VendorOrderView(
        vendor_order_id=gift.campaign_uuid,
        reference=gift.campaign_id,
        status=status,
        amount_minor=gift.price_in_cents,
        currency=currency,
        created_at=created,
        # Giftbit lists no change time: its creation is the only one it tells.
        updated_at=created,
    )


def campaign_view(
    answer: wire.CampaignAnswer, currency: str, card: CardSecret | None, now: datetime
) -> VendorOrderView:
    campaign = answer.campaign
    status = CAMPAIGN_STATUSES.get(campaign.status)
    if status is None:
        detail = f"campaign {campaign.uuid}: a status Giftbit never documented, {campaign.status!r}"
        raise VendorUnavailable("bad_response", detail[:DETAIL_LIMIT], http_status=200)
    try:
        created = giftbit_time(campaign.created_date) if campaign.created_date else now
    except ValueError:
        created = now
    return VendorOrderView(
        vendor_order_id=campaign.uuid,
        reference=campaign.id,
        status=status,
        amount_minor=campaign.price_in_cents,
        currency=currency,
        created_at=created,
        updated_at=created,
        card=card,
    )
