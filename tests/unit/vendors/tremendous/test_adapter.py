"""TremendousAdapter against recorded API v2 answers (aioresponses): the create request, 200
new and 201 repeat, 409 for a changed payload, every documented status classified, the link as
the card, look-ups that ask for a fresh link, and listings paged by offset."""

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
from ledger.vendors.tremendous.adapter import TremendousAdapter
from tests.unit.vendors.rest_doubles import NOW

BASE = "http://tremendous.test"
ORDERS = f"{BASE}/api/v2/orders"
REQ = VendorOrderRequest("gcl-ref-0001", 2500, "USD", "amazon-us", "customer-9")
LISTED = re.compile(rf"^{re.escape(ORDERS)}\?.*$")
LINK = "https://testflight.tremendous.test/rewards/payout/abc"


def tremendous_order(status: str = "EXECUTED", **extra: object) -> dict[str, object]:
    """As the official SDKs' CreateOrder200ResponseOrder has it."""
    order: dict[str, object] = {
        "id": "ORD-1",
        "external_id": REQ.reference,
        "created_at": "2026-10-21T07:27:30.000Z",
        "status": status,
        "channel": "API",
        "payment": {"subtotal": 25.0, "total": 25.0, "fees": 0.0},
        "rewards": [
            {
                "id": "RW-1",
                "order_id": "ORD-1",
                "created_at": "2026-10-21T07:27:30.000Z",
                "value": {"denomination": 25.0, "currency_code": "USD"},
                "delivery": {"method": "LINK", "status": "SUCCEEDED", "link": LINK},
            }
        ],
    }
    order.update(extra)
    return order


def tremendous_error(message: str) -> dict[str, object]:
    return {"errors": {"message": message, "payload": {"reward": {"products": ["invalid"]}}}}


@pytest.fixture
async def adapter() -> AsyncIterator[TremendousAdapter]:
    async with aiohttp.ClientSession() as session:
        yield TremendousAdapter(
            "tremendous",
            BASE,
            session,
            "tr_key",
            "balance",
            {"amazon-us": "OKMHM2X2OHYV"},
            2.0,
            timedelta(hours=24),
            clock=lambda: NOW,
        )


async def test_the_order_is_one_link_reward_keyed_by_external_id(vendor, adapter):
    vendor.post(ORDERS, status=200, payload={"order": tremendous_order()})
    await adapter.create_order(REQ)
    (request,) = vendor.requests[("POST", URL(ORDERS))]
    assert json.loads(request.kwargs["data"]) == {
        "external_id": REQ.reference,
        "payment": {"funding_source_id": "balance"},
        "reward": {
            "value": {"denomination": 25.00, "currency_code": "USD"},
            "products": ["OKMHM2X2OHYV"],
            "recipient": {"name": "customer-9"},
            "delivery": {"method": "LINK"},
        },
    }
    assert request.kwargs["headers"]["Authorization"] == "Bearer tr_key"


@pytest.mark.parametrize("status", [200, 201], ids=["new", "repeat"])
async def test_an_executed_order_is_fulfilled_with_its_link_as_the_card(vendor, adapter, status):
    vendor.post(ORDERS, status=status, payload={"order": tremendous_order()})
    outcome = await adapter.create_order(REQ)
    assert outcome == Fulfilled("ORD-1", "EXECUTED", CardSecret(LINK, None, LINK))


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("PENDING APPROVAL", Accepted),
        ("PENDING INTERNAL PAYMENT APPROVAL", Accepted),
        ("PENDING SETTLEMENT", Accepted),
        ("OPEN", Accepted),
        ("CART", Accepted),
        ("FAILED", Rejected),
        ("CANCELED", Rejected),
        ("REFUNDING", Unknown),
    ],
)
async def test_each_order_status_is_classified(vendor, adapter, status, expected):
    vendor.post(ORDERS, status=200, payload={"order": tremendous_order(status)})
    assert isinstance(await adapter.create_order(REQ), expected)


async def test_an_answer_for_another_amount_is_a_conflict_never_success(vendor, adapter):
    other = tremendous_order()
    other["rewards"][0]["value"] = {"denomination": 50.0, "currency_code": "USD"}
    vendor.post(ORDERS, status=201, payload={"order": other})
    outcome = await adapter.create_order(REQ)
    assert isinstance(outcome, Rejected) and outcome.code == "reference_conflict"


@pytest.mark.parametrize(
    ("status", "code", "business"),
    [
        (400, "http_400", True),
        (402, "http_402", True),  # funding
        (422, "http_422", True),
        (409, "reference_conflict", True),  # external_id taken by another payload
        (401, "http_401", False),
        (403, "http_403", False),
        (404, "http_404", False),
    ],
)
async def test_each_documented_refusal_is_rejected(vendor, adapter, status, code, business):
    vendor.post(ORDERS, status=status, payload=tremendous_error("refused"))
    outcome = await adapter.create_order(REQ)
    assert isinstance(outcome, Rejected) and outcome.code == code, outcome
    assert outcome.business is business


@pytest.mark.parametrize(("status", "reason"), [(429, "rate_limited"), (500, "server_error")])
async def test_answers_that_leave_the_order_open_are_unknown(vendor, adapter, status, reason):
    vendor.post(ORDERS, status=status, payload=tremendous_error("later"))
    outcome = await adapter.create_order(REQ)
    assert isinstance(outcome, Unknown) and outcome.reason == reason


async def test_a_lookup_finds_the_order_by_external_id_and_asks_for_a_fresh_link(vendor, adapter):
    listed = tremendous_order()
    del listed["rewards"][0]["delivery"]["link"]
    vendor.get(LISTED, payload={"orders": [listed], "total_count": 1})
    fresh = "https://testflight.tremendous.test/rewards/payout/new"
    vendor.post(
        f"{BASE}/api/v2/rewards/RW-1/generate_link",
        payload={"reward": {"id": "RW-1", "link": fresh}},
    )
    view = await adapter.get_order(REQ.reference)
    assert view is not None and view.status == "fulfilled" and view.amount_minor == 2500
    assert view.card == CardSecret(fresh, None, fresh)


async def test_an_empty_list_is_absence_but_an_error_is_not(vendor, adapter):
    vendor.get(LISTED, payload={"orders": [], "total_count": 0})
    assert await adapter.get_order(REQ.reference) is None
    vendor.get(LISTED, status=404, payload=tremendous_error("no such path"))
    with pytest.raises(VendorUnavailable):
        await adapter.get_order(REQ.reference)


async def test_listings_page_by_offset_until_the_total_is_reached(vendor, adapter):
    start = datetime(2026, 10, 21, tzinfo=UTC)
    first = [tremendous_order(id=f"ORD-{i}") for i in range(2)]
    vendor.get(LISTED, payload={"orders": first, "total_count": 3})
    page = await adapter.list_transactions(start, start + timedelta(days=1), None, 2)
    assert [r.vendor_order_id for r in page.records] == ["ORD-0", "ORD-1"]
    assert page.next_cursor == "2"
    vendor.get(LISTED, payload={"orders": [tremendous_order(id="ORD-2")], "total_count": 3})
    last = await adapter.list_transactions(start, start + timedelta(days=1), "2", 2)
    assert [r.vendor_order_id for r in last.records] == ["ORD-2"] and last.next_cursor is None
    sent = [r.kwargs["params"] for (method, _), calls in vendor.requests.items() for r in calls]
    assert [p["offset"] for p in sent] == ["0", "2"]
