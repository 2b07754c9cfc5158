"""GiftbitAdapter against recorded API v1 answers (aioresponses): one direct link per order
keyed by Giftbit's idempotent id, cents, insufficient funds as a pending 200, each documented
error, look-ups by id with the link, gifts listed by offset in Pacific time."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest
from yarl import URL

from ledger.vendors.base import (
    Accepted,
    CardSecret,
    Fulfilled,
    Rejected,
    Unknown,
    VendorOrderRequest,
    VendorUnavailable,
)
from ledger.vendors.giftbit.adapter import GiftbitAdapter
from tests.unit.vendors.rest_doubles import NOW

BASE = "http://giftbit.test/papi/v1"
LINKS = f"{BASE}/direct_links"
REQ = VendorOrderRequest("gcl-ref-0001", 2500, "USD", "amazon-us", "customer-9")
LINK = "https://reward.giftbit.com/getReward/dl-abc"


def answer(status: str = "CAMPAIGN_CREATED", code: str = "INFO_CAMPAIGN_CREATED", **campaign):
    """As Giftbit's API blueprint shows a direct-links answer."""
    held = {
        "id": REQ.reference,
        "uuid": "8b3e1b0c5f6d4e2a",
        "status": status,
        "delivery_type": "DIRECT_LINK",
        "price_in_cents": 2500,
        "brand_codes": ["AMAZONUS"],
        "created_date": "2026-10-21 00:27:30",
    } | campaign
    links = [LINK] if status == "CAMPAIGN_CREATED" else []
    return {"info": {"code": code}, "status": 200, "campaign": held, "direct_links": links}


def giftbit_error(status: int, code: str) -> dict[str, object]:
    return {"error": {"code": code, "name": code.title(), "message": code}, "status": status}


@pytest.fixture
async def adapter() -> AsyncIterator[GiftbitAdapter]:
    async with aiohttp.ClientSession() as session:
        yield GiftbitAdapter(
            "giftbit",
            BASE,
            session,
            "gb_token",
            {"amazon-us": "AMAZONUS"},
            2.0,
            timedelta(hours=24),
            currency="USD",
            clock=lambda: NOW,
        )


async def test_the_order_is_one_direct_link_in_cents_keyed_by_our_reference(vendor, adapter):
    vendor.post(LINKS, payload=answer())
    await adapter.create_order(REQ)
    (request,) = vendor.requests[("POST", URL(LINKS))]
    assert json.loads(request.kwargs["data"]) == {
        "id": REQ.reference,
        "price_in_cents": 2500,
        "brand_codes": ["AMAZONUS"],
        "link_count": 1,
    }
    assert request.kwargs["headers"]["Authorization"] == "Bearer gb_token"


async def test_created_links_are_fulfilled_with_the_link_as_the_card(vendor, adapter):
    vendor.post(LINKS, payload=answer())
    outcome = await adapter.create_order(REQ)
    assert outcome == Fulfilled(
        "8b3e1b0c5f6d4e2a", "CAMPAIGN_CREATED", CardSecret(LINK, None, LINK)
    )


@pytest.mark.parametrize(
    ("status", "code"),
    [
        ("AWAITING_FUNDS", "INFO_CAMPAIGN_CREATED_FUNDS_REQUIRED"),
        ("API_CREATING", "INFO_CAMPAIGN_CREATED_FUNDS_PENDING"),
    ],
)
async def test_an_order_waiting_for_funds_or_creation_is_pending_never_resent(
    vendor, adapter, status, code
):
    vendor.post(LINKS, payload=answer(status, code))
    assert isinstance(await adapter.create_order(REQ), Accepted)


@pytest.mark.parametrize(
    "campaign",
    [{"price_in_cents": 5000}, {"brand_codes": ["ITUNESUS"]}],
    ids=["another price", "another brand"],
)
async def test_an_answer_for_another_order_under_our_id_is_a_conflict(vendor, adapter, campaign):
    vendor.post(LINKS, payload=answer(**campaign))
    outcome = await adapter.create_order(REQ)
    assert isinstance(outcome, Rejected) and outcome.code == "reference_conflict"


@pytest.mark.parametrize(
    ("status", "code", "business"),
    [
        (422, "ERROR_CAMPAIGN_INVALID_BRAND", True),
        (422, "ERROR_BRANDS_NO_SUCH_BRAND", True),
        (402, "ERROR_FUNDS_CARD_ERROR", True),
        (400, "ERROR_INVALID_REQUEST", False),
        (401, "ERROR_UNAUTHORIZED", False),
        (403, "ERROR_UNAUTHORIZED", False),
    ],
)
async def test_each_documented_refusal_is_rejected(vendor, adapter, status, code, business):
    vendor.post(LINKS, status=status, payload=giftbit_error(status, code))
    outcome = await adapter.create_order(REQ)
    assert isinstance(outcome, Rejected) and outcome.code == code and outcome.business is business


@pytest.mark.parametrize(("status", "reason"), [(429, "rate_limited"), (503, "server_error")])
async def test_answers_that_leave_the_order_open_are_unknown(vendor, adapter, status, reason):
    vendor.post(LINKS, status=status, payload=giftbit_error(status, "ERROR_LATER"))
    outcome = await adapter.create_order(REQ)
    assert isinstance(outcome, Unknown) and outcome.reason == reason


async def test_an_order_in_another_currency_is_refused_before_anything_is_sent(vendor, adapter):
    outcome = await adapter.create_order(VendorOrderRequest("r", 100, "EUR", "amazon-us", "c"))
    assert isinstance(outcome, Rejected) and outcome.code == "brand_not_configured"
    assert not vendor.requests


async def test_a_lookup_reads_the_campaign_by_our_id_and_its_link(vendor, adapter):
    vendor.get(f"{BASE}/campaign/{REQ.reference}", payload=answer())
    vendor.get(
        f"{BASE}/links/{REQ.reference}",
        payload={"info": {"code": "INFO_LINKS"}, "directlinks": [{"link": LINK, "number": 1}]},
    )
    view = await adapter.get_order(REQ.reference)
    assert view is not None and view.status == "fulfilled" and view.amount_minor == 2500
    assert view.card == CardSecret(LINK, None, LINK)
    assert view.created_at == datetime(2026, 10, 21, 7, 27, 30, tzinfo=UTC), "Pacific, as UTC"


async def test_giftbits_not_found_is_absence_but_a_bare_404_is_not(vendor, adapter):
    campaign = f"{BASE}/campaign/{REQ.reference}"
    vendor.get(campaign, status=404, payload=giftbit_error(404, "ERROR_CAMPAIGN_NOT_FOUND"))
    assert await adapter.get_order(REQ.reference) is None
    vendor.get(campaign, status=404, body=b"<html>not found</html>")
    with pytest.raises(VendorUnavailable):
        await adapter.get_order(REQ.reference)


async def test_gifts_are_listed_by_offset_with_the_window_in_pacific_time(vendor, adapter):
    gift = {
        "uuid": "gift-1",
        "campaign_uuid": "8b3e1b0c5f6d4e2a",
        "campaign_id": REQ.reference,
        "status": "GIVER_CANCELLED",
        "price_in_cents": 2500,
        "created_date": "2026-10-21 00:27:30",
    }
    vendor.get(
        re.compile(rf"^{re.escape(BASE)}/gifts\?.*$"), payload={"gifts": [gift], "total_count": 2}
    )
    start = datetime(2026, 10, 21, tzinfo=UTC)
    page = await adapter.list_transactions(start, start + timedelta(days=1), None, 1)
    (record,) = page.records
    assert (record.reference, record.status, record.amount_minor) == (
        REQ.reference,
        "refunded",
        2500,
    )
    assert page.next_cursor == "1"
    (calls,) = vendor.requests.values()
    params = calls[0].kwargs["params"]
    assert params["created_date_greater_than"] == "2026-10-20 16:59:59"  # 1 s early: > not >=
    assert params["created_date_less_than"] == "2026-10-21 17:00:00"
