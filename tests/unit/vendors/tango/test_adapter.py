"""TangoAdapter against recorded RaaS v2 answers (aioresponses): every documented error key
classified, a repeated externalRefID answering another order treated as a conflict, the card
read from the typed credential list, look-ups and capped listings."""

from __future__ import annotations

import base64
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
from ledger.vendors.tango.adapter import TangoAccount, TangoAdapter
from ledger.vendors.tango.listing import ListingCursor
from ledger.vendors.tango.webhooks import parse_webhook
from tests.unit.vendors.rest_doubles import NOW

BASE = "http://tango.test"
ORDERS = f"{BASE}/raas/v2/orders"
ACCOUNT = TangoAccount("platform", "key", "acct-1", "cust-1")
REQ = VendorOrderRequest("gcl-ref-0001", 2500, "USD", "amazon-us", "customer-9")
LISTED = re.compile(rf"^{re.escape(ORDERS)}\?.*$")


def tango_order(status: str = "COMPLETE", **extra: object) -> dict[str, object]:
    """As Tango's swagger (OrderViewSummary) has it."""
    order: dict[str, object] = {
        "referenceOrderID": "RA210101-1234-56",
        "externalRefID": REQ.reference,
        "accountIdentifier": "acct-1",
        "customerIdentifier": "cust-1",
        "utid": "U157189",
        "rewardName": "Amazon.com Gift Card",
        "status": status,
        "createdAt": "2026-10-21T07:27:30.123Z",
        "amountCharged": {"value": 25.0, "currencyCode": "USD", "total": 25.0},
        "denomination": {"value": 25.0, "currencyCode": "USD"},
        "reward": {
            "credentials": {"Card Number": "AMZN-1234", "PIN": "9876"},
            "credentialList": [
                {
                    "label": "Card Number",
                    "value": "AMZN-1234",
                    "type": "text",
                    "credentialType": "cardNumber",
                },
                {"label": "PIN", "value": "9876", "type": "text", "credentialType": "cardPin"},
            ],
        },
    }
    order.update(extra)
    return order


def tango_error(status: int, key: str) -> dict[str, object]:
    """As Tango's ApiError has it (tangocard-raas-client-starter)."""
    return {
        "timestamp": "2026-10-21T07:27:30.564Z",
        "requestId": "82b542f0-0000",
        "path": "/raas/v2/orders",
        "httpCode": status,
        "httpPhrase": "Error",
        "i18nKey": key,
        "message": f"{key} happened",
    }


@pytest.fixture
async def adapter() -> AsyncIterator[TangoAdapter]:
    async with aiohttp.ClientSession() as session:
        yield TangoAdapter(
            "tango",
            BASE,
            session,
            ACCOUNT,
            {"amazon-us": "U157189"},
            2.0,
            timedelta(days=90),
            list_cap=3,
            clock=lambda: NOW,
        )


async def test_the_order_is_sent_with_our_reference_as_external_ref_id_and_basic_auth(
    vendor, adapter
):
    vendor.post(ORDERS, status=201, payload=tango_order())
    await adapter.create_order(REQ)
    (request,) = vendor.requests[("POST", URL(ORDERS))]
    body = json.loads(request.kwargs["data"])
    assert body == {
        "accountIdentifier": "acct-1",
        "customerIdentifier": "cust-1",
        "utid": "U157189",
        "amount": 25.00,
        "externalRefID": REQ.reference,
        "sendEmail": False,
    }
    assert b'"amount":25.00' in request.kwargs["data"], "major units, exact, as a JSON number"
    expected = "Basic " + base64.b64encode(b"platform:key").decode()
    assert request.kwargs["headers"]["Authorization"] == expected


async def test_a_new_complete_order_is_fulfilled_with_the_card_from_the_typed_list(vendor, adapter):
    vendor.post(ORDERS, status=201, payload=tango_order())
    outcome = await adapter.create_order(REQ)
    assert outcome == Fulfilled("RA210101-1234-56", "COMPLETE", CardSecret("AMZN-1234", "9876"))


async def test_a_link_only_reward_gives_its_redemption_url_as_the_code(vendor, adapter):
    link = "https://tango.test/redeem/abc"
    reward = {
        "credentials": {"Redemption URL": link},
        "credentialList": [{"label": "Link", "value": link, "credentialType": "redemptionUrl"}],
    }
    vendor.post(ORDERS, status=201, payload=tango_order(reward=reward))
    outcome = await adapter.create_order(REQ)
    assert isinstance(outcome, Fulfilled) and outcome.card == CardSecret(link, None, link)


async def test_a_replay_of_the_same_order_is_its_success(vendor, adapter):
    vendor.post(ORDERS, status=200, payload=tango_order())
    assert isinstance(await adapter.create_order(REQ), Fulfilled)


@pytest.mark.parametrize(
    "held",
    [
        {"utid": "U999999"},
        {"denomination": {"value": 50.0, "currencyCode": "USD"}},
        {"denomination": {"value": 25.0, "currencyCode": "EUR"}},
    ],
    ids=["another product", "another amount", "another currency"],
)
async def test_a_repeated_reference_answering_another_order_is_a_conflict_never_success(
    vendor, adapter, held
):
    vendor.post(ORDERS, status=200, payload=tango_order(**held))
    outcome = await adapter.create_order(REQ)
    assert isinstance(outcome, Rejected) and outcome.code == "reference_conflict", outcome
    assert outcome.vendor_order_id == "RA210101-1234-56"


@pytest.mark.parametrize(
    ("status", "expected"),
    [("PENDING", Accepted), ("PARTIAL", Accepted), ("FAILED", Rejected), ("SHIPPED", Unknown)],
)
async def test_each_order_status_is_classified(vendor, adapter, status, expected):
    vendor.post(ORDERS, status=201, payload=tango_order(status, reward=None))
    assert isinstance(await adapter.create_order(REQ), expected)


@pytest.mark.parametrize(
    ("status", "key", "business"),
    [
        (402, "402.001", True),  # insufficient funds
        (403, "403.016", True),  # fraud velocity threshold
        (404, "404.033", True),  # utid not in the catalog
        (422, "422.105", True),  # amount precision
        (422, "422.027", True),  # amount out of range
        (400, "400.009", False),  # malformed JSON: our bug, not a verdict on the order
        (401, "401.002", False),  # credentials
        (403, "403.020", False),  # platform status
        (404, "404.003", False),  # account missing
    ],
)
async def test_each_documented_refusal_is_rejected_and_only_verdicts_are_business(
    vendor, adapter, status, key, business
):
    vendor.post(ORDERS, status=status, payload=tango_error(status, key))
    outcome = await adapter.create_order(REQ)
    assert isinstance(outcome, Rejected) and outcome.code == key
    assert outcome.business is business


@pytest.mark.parametrize(
    ("status", "key", "reason"),
    [
        (409, "409.002", "rate_limited"),  # in process: come back in 2 s
        (409, "409.024", "unexpected_reply"),  # exists: a look-up settles it
        (429, "429.001", "rate_limited"),
        (429, "429.008", "rate_limited"),
        (500, "500.005", "server_error"),
        (503, "503.035", "server_error"),
        (503, "503.502", "server_error"),
    ],
)
async def test_answers_that_leave_the_order_open_are_unknown(vendor, adapter, status, key, reason):
    vendor.post(
        ORDERS, status=status, payload=tango_error(status, key), headers={"Retry-After": "2"}
    )
    outcome = await adapter.create_order(REQ)
    assert isinstance(outcome, Unknown) and outcome.reason == reason, outcome


async def test_an_error_body_that_is_not_tangos_is_kept_as_a_digest(vendor, adapter):
    vendor.post(ORDERS, status=400, body=b'{"card": "AMZN-SECRET"}')
    outcome = await adapter.create_order(REQ)
    assert isinstance(outcome, Rejected) and "AMZN-SECRET" not in outcome.message
    assert "sha256" in outcome.message and not outcome.business


async def test_a_timeout_is_unknown(vendor, adapter):
    vendor.post(ORDERS, exception=TimeoutError())
    outcome = await adapter.create_order(REQ)
    assert isinstance(outcome, Unknown) and outcome.reason == "timeout"


async def test_a_brand_without_a_utid_is_refused_without_a_request(vendor, adapter):
    outcome = await adapter.create_order(VendorOrderRequest("r", 100, "USD", "unmapped", "c"))
    assert isinstance(outcome, Rejected) and outcome.code == "brand_not_configured"
    assert not vendor.requests


def _listing(orders: list[dict], total: int, page: int = 0) -> dict[str, object]:
    size = {"number": page, "elementsPerBlock": 100, "resultCount": len(orders)}
    return {"page": size | {"totalCount": total}, "orders": orders}


async def test_a_lookup_finds_the_order_by_reference_and_reads_its_card_by_id(vendor, adapter):
    listed = tango_order()
    listed.pop("reward")
    vendor.get(LISTED, payload=_listing([listed], 1))
    vendor.get(f"{ORDERS}/RA210101-1234-56", payload=tango_order())
    view = await adapter.get_order(REQ.reference)
    assert view is not None and view.amount_minor == 2500 and view.status == "fulfilled"
    assert view.card == CardSecret("AMZN-1234", "9876")


async def test_no_orders_for_the_reference_is_absence_but_a_missing_account_is_not(vendor, adapter):
    vendor.get(LISTED, status=404, payload=tango_error(404, "404.110"))
    assert await adapter.get_order(REQ.reference) is None
    vendor.get(LISTED, status=404, payload=tango_error(404, "404.003"))
    with pytest.raises(VendorUnavailable):
        await adapter.get_order(REQ.reference)


async def test_a_window_over_the_cap_is_halved_and_both_halves_are_listed(vendor, adapter):
    start, end = datetime(2026, 10, 21, tzinfo=UTC), datetime(2026, 10, 22, tzinfo=UTC)
    early = tango_order(createdAt="2026-10-21T03:00:00Z", referenceOrderID="RA-early")
    late = tango_order(createdAt="2026-10-21T20:00:00Z", referenceOrderID="RA-late")
    vendor.get(LISTED, payload=_listing([early, late], total=4))  # over the cap of 3: split
    vendor.get(LISTED, payload=_listing([early], total=1))  # the first half
    first = await adapter.list_transactions(start, end, None, 100)
    assert [r.vendor_order_id for r in first.records] == ["RA-early"]
    assert first.next_cursor is not None
    halves = ListingCursor.decode(first.next_cursor).windows
    assert halves == ((datetime(2026, 10, 21, 12, tzinfo=UTC), end),)
    vendor.get(LISTED, payload=_listing([late], total=1))
    second = await adapter.list_transactions(start, end, first.next_cursor, 100)
    assert [r.vendor_order_id for r in second.records] == ["RA-late"]
    assert second.next_cursor is None


async def test_a_window_that_cannot_be_split_below_the_cap_fails_the_listing(vendor, adapter):
    moment = datetime(2026, 10, 21, tzinfo=UTC)
    vendor.get(LISTED, payload=_listing([], total=9), repeat=True)
    with pytest.raises(VendorUnavailable) as refused:
        await adapter.list_transactions(moment, moment + timedelta(milliseconds=1), None, 100)
    assert refused.value.reason == "listing_capped"


async def test_an_unreadable_record_stops_the_listing_rather_than_passing_it_over(vendor, adapter):
    odd = tango_order(status="FROZEN")
    vendor.get(LISTED, payload=_listing([odd], total=1))
    start = datetime(2026, 10, 21, tzinfo=UTC)
    with pytest.raises(VendorUnavailable):
        await adapter.list_transactions(start, start + timedelta(days=1), None, 100)


def test_a_tango_event_names_our_reference_and_tangos_order_by_its_event_id():
    body = json.dumps(
        {
            "eventId": "evt-9",
            "revision": 3,
            "category": "ORDER",
            "eventTypes": ["ORDER_STATUS"],
            "eventOccurredAt": "2026-10-21T07:27:30Z",
            "eventData": {
                "referenceOrderID": "RA-1",
                "externalRefID": REQ.reference,
                "status": "COMPLETE",
            },
        }
    ).encode()
    hint = parse_webhook(body)
    assert (hint.webhook_id, hint.reference, hint.vendor_order_id, hint.status) == (
        "evt-9",
        REQ.reference,
        "RA-1",
        "COMPLETE",
    )
