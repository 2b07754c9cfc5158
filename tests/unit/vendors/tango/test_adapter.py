"""TangoAdapter against recorded RaaS v2 answers (aioresponses): every documented error key
classified, a repeated externalRefID answering another order treated as a conflict, the card
read from the typed credential list, look-ups and capped listings."""

from __future__ import annotations

import base64
import json

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
from tests.unit.vendors.tango.answers import ORDERS, REQ, tango_error, tango_order


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
        (409, "409.024", "reference_conflict"),  # exists: a look-up settles it
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
