"""ReloadlyAdapter against recorded answers (aioresponses): the OAuth2 token fetched once,
renewed before it expires and refreshed once on a 401 (never the vendor's refusal), the order
keyed by customIdentifier, each documented error, the card from a second read, look-ups and
listings through the transaction reports."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from datetime import timedelta

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
)
from ledger.vendors.reloadly.adapter import ReloadlyAccount, ReloadlyAdapter
from ledger.vendors.reloadly.wire import MEDIA_TYPE
from tests.unit.vendors.rest_doubles import NOW

BASE = "http://giftcards.reloadly.test"
AUTH = "http://auth.reloadly.test/oauth/token"
ORDERS = f"{BASE}/orders"
REPORTS = re.compile(rf"^{re.escape(BASE)}/reports/transactions\?.*$")
REQ = VendorOrderRequest("gcl-ref-0001", 2500, "USD", "amazon-us", "customer-9")
ACCOUNT = ReloadlyAccount("client", "secret", AUTH, "Acme Rewards", "cards@acme.test")


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self):
        return self.now


def transaction(status: str = "SUCCESSFUL", **product: object) -> dict[str, object]:
    """As the official SDK's GiftcardTransaction has it."""
    return {
        "transactionId": 4711,
        "amount": 25.6,
        "discount": 0.4,
        "currencyCode": "USD",
        "customIdentifier": REQ.reference,
        "status": status,
        "transactionCreatedTime": "2026-10-21 07:27:30",
        "product": {
            "productId": 120,
            "productName": "Amazon US",
            "quantity": 1,
            "unitPrice": 25,
            "totalPrice": 25,
            "currencyCode": "USD",
        }
        | product,
    }


def reloadly_error(code: str | None, message: str = "refused") -> dict[str, object]:
    return {"timeStamp": "2026-10-21 07:27:30", "message": message, "path": "/orders",
            "errorCode": code, "infoLink": None, "details": []}  # fmt: skip


def token(value: str = "tok-1", expires_in: int = 3600) -> dict[str, object]:
    return {"access_token": value, "expires_in": expires_in, "token_type": "Bearer"}


CARDS = f"{BASE}/orders/transactions/4711/cards"


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def adapter(clock) -> AsyncIterator[ReloadlyAdapter]:
    async with aiohttp.ClientSession() as session:
        yield ReloadlyAdapter(
            "reloadly", BASE, session, ACCOUNT, {"amazon-us": "120"}, 2.0, timedelta(0),
            clock=clock,
        )  # fmt: skip


def _sent(vendor, method: str, url: str) -> list:
    return vendor.requests.get((method, URL(url)), [])


async def test_the_order_carries_our_reference_as_custom_identifier_with_a_bearer_token(
    vendor, adapter
):
    vendor.post(AUTH, payload=token())
    vendor.post(ORDERS, payload=transaction())
    vendor.get(CARDS, payload=[{"cardNumber": "AMZN-1", "pinCode": "1234"}])
    outcome = await adapter.create_order(REQ)
    assert outcome == Fulfilled("4711", "SUCCESSFUL", CardSecret("AMZN-1", "1234"))
    (asked,) = _sent(vendor, "POST", ORDERS)
    assert json.loads(asked.kwargs["data"]) == {
        "productId": 120,
        "quantity": 1,
        "unitPrice": 25.00,
        "customIdentifier": REQ.reference,
        "senderName": "Acme Rewards",
        "recipientEmail": "cards@acme.test",
    }
    assert asked.kwargs["headers"]["Authorization"] == "Bearer tok-1"
    assert asked.kwargs["headers"]["Accept"] == MEDIA_TYPE
    (fetched,) = _sent(vendor, "POST", AUTH)
    assert json.loads(fetched.kwargs["data"]) == {
        "client_id": "client",
        "client_secret": "secret",
        "audience": BASE,
        "grant_type": "client_credentials",
    }


async def test_the_token_is_fetched_once_and_renewed_before_it_expires(vendor, adapter, clock):
    vendor.post(AUTH, payload=token("tok-1", expires_in=3600))
    vendor.post(AUTH, payload=token("tok-2", expires_in=3600))
    vendor.get(REPORTS, payload={"content": [], "totalPages": 0, "number": 0}, repeat=True)
    await adapter.get_order("a")
    await adapter.get_order("b")
    assert adapter.tokens.fetches == 1
    clock.now += timedelta(minutes=56)  # within the 5 minutes before its expiry
    await adapter.get_order("c")
    assert adapter.tokens.fetches == 2
    last = list(vendor.requests.values())[-1][-1]
    assert last.kwargs["headers"]["Authorization"] == "Bearer tok-2"


async def test_an_expired_token_is_refreshed_and_the_order_sent_once_more(vendor, adapter):
    vendor.post(AUTH, payload=token("tok-old"))
    vendor.post(ORDERS, status=401, payload=reloadly_error("TOKEN_EXPIRED"))
    vendor.post(AUTH, payload=token("tok-new"))
    vendor.post(ORDERS, payload=transaction("PENDING"))
    outcome = await adapter.create_order(REQ)
    assert outcome == Accepted("4711", "PENDING"), "the 401 was ours, not the vendor's verdict"
    sent = _sent(vendor, "POST", ORDERS)
    assert [r.kwargs["headers"]["Authorization"] for r in sent] == [
        "Bearer tok-old",
        "Bearer tok-new",
    ]


async def test_a_second_401_is_returned_not_retried_for_ever(vendor, adapter):
    vendor.post(AUTH, payload=token(), repeat=True)
    vendor.post(ORDERS, status=401, payload=reloadly_error("INVALID_TOKEN"), repeat=True)
    outcome = await adapter.create_order(REQ)
    assert isinstance(outcome, Rejected) and outcome.http_status == 401 and not outcome.business
    assert len(_sent(vendor, "POST", ORDERS)) == 2


@pytest.mark.parametrize(
    ("status", "expected"),
    [(401, Rejected), (500, Unknown)],
    ids=["credentials refused", "token endpoint down"],
)
async def test_without_a_token_nothing_is_ordered(vendor, adapter, status, expected):
    vendor.post(AUTH, status=status, payload=reloadly_error("INVALID_CREDENTIALS"))
    outcome = await adapter.create_order(REQ)
    assert isinstance(outcome, expected)
    assert not isinstance(outcome, Rejected) or not outcome.business
    assert _sent(vendor, "POST", ORDERS) == []


@pytest.mark.parametrize(
    ("status", "code", "business"),
    [
        (400, None, True),  # "Invalid price, please ensure you selected the right price."
        (404, "PRODUCT_NOT_FOUND", True),
        (403, None, False),
    ],
)
async def test_each_documented_refusal_is_rejected(vendor, adapter, status, code, business):
    vendor.post(AUTH, payload=token())
    vendor.post(ORDERS, status=status, payload=reloadly_error(code))
    outcome = await adapter.create_order(REQ)
    assert isinstance(outcome, Rejected) and outcome.business is business


@pytest.mark.parametrize(
    ("status", "expected"),
    [("PROCESSING", Accepted), ("PENDING", Accepted), ("FAILED", Rejected), ("ODD", Unknown)],
)
async def test_each_transaction_status_is_classified(vendor, adapter, status, expected):
    vendor.post(AUTH, payload=token())
    vendor.post(ORDERS, payload=transaction(status))
    assert isinstance(await adapter.create_order(REQ), expected)


async def test_a_transaction_for_another_product_or_price_is_a_conflict(vendor, adapter):
    vendor.post(AUTH, payload=token())
    vendor.post(ORDERS, payload=transaction(unitPrice=50))
    outcome = await adapter.create_order(REQ)
    assert isinstance(outcome, Rejected) and outcome.code == "reference_conflict"


async def test_an_order_whose_card_cannot_be_read_yet_is_pending_for_its_look_up(vendor, adapter):
    vendor.post(AUTH, payload=token())
    vendor.post(ORDERS, payload=transaction())
    vendor.get(CARDS, status=503, payload=reloadly_error(None))
    assert await adapter.create_order(REQ) == Accepted("4711", "SUCCESSFUL")


async def test_a_look_up_finds_the_transaction_by_custom_identifier_with_its_card(vendor, adapter):
    vendor.post(AUTH, payload=token())
    vendor.get(REPORTS, payload={"content": [transaction()], "totalPages": 1, "number": 0})
    vendor.get(CARDS, payload=[{"cardNumber": "AMZN-1", "pinCode": "1234"}])
    view = await adapter.get_order(REQ.reference)
    assert view is not None and view.status == "fulfilled" and view.amount_minor == 2500
    assert view.card == CardSecret("AMZN-1", "1234")
    (asked,) = [r for (m, u), rs in vendor.requests.items() if m == "GET" for r in rs][:1]
    assert asked.kwargs["params"]["customIdentifier"] == REQ.reference


async def test_listings_page_through_the_reports(vendor, adapter):
    vendor.post(AUTH, payload=token())
    vendor.get(
        REPORTS, payload={"content": [transaction("REFUNDED")], "totalPages": 2, "number": 0}
    )
    start = NOW - timedelta(hours=1)
    page = await adapter.list_transactions(start, NOW + timedelta(hours=1), None, 1)
    assert [r.status for r in page.records] == ["refunded"] and page.next_cursor == "1"


async def test_a_price_written_as_a_java_double_is_read_exactly(vendor, adapter):
    """Reloadly's JSON comes from Java doubles: 5000 yen is `5000.0`, ten million dong `1.0E7`."""
    vendor.post(AUTH, payload=token())
    answer = json.dumps(transaction(unitPrice=0, currencyCode="JPY")).replace(
        '"unitPrice": 0', '"unitPrice": 1.0E7'
    )
    vendor.post(ORDERS, body=answer, content_type="application/json")
    vendor.get(CARDS, payload=[{"cardNumber": "VN-1", "pinCode": None}])
    asked = VendorOrderRequest("gcl-ref-0001", 10_000_000, "JPY", "amazon-us", "customer-9")
    assert await adapter.create_order(asked) == Fulfilled("4711", "SUCCESSFUL", CardSecret("VN-1"))


async def test_a_price_that_cannot_be_read_never_fails_an_order_reloadly_may_have_charged(
    vendor, adapter
):
    vendor.post(AUTH, payload=token())
    vendor.post(ORDERS, payload=transaction(unitPrice=25.005))
    outcome = await adapter.create_order(REQ)
    assert isinstance(outcome, Unknown) and outcome.reason == "unexpected_reply"
