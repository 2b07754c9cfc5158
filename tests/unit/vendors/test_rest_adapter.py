"""RestVendorAdapter: how each vendor answer is classified, against aioresponses."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import aiohttp
import msgspec
import pytest

from ledger.vendors.base import (
    Accepted,
    CardSecret,
    Fulfilled,
    Rejected,
    Unknown,
    VendorUnavailable,
)
from ledger.vendors.rest import classify
from tests.unit.vendors.rest_doubles import (
    BASE,
    NOW,
    ORDERS,
    REQ,
    error_json,
    order_json,
    sent,
)

# --- classification of one attempt ---------------------------------------------------------


async def test_a_timeout_is_an_unknown_timeout(vendor, adapter):
    vendor.post(ORDERS, exception=TimeoutError())
    outcome = await adapter.create_order(REQ)
    assert isinstance(outcome, Unknown) and outcome.reason == "timeout"


async def test_aiohttp_server_timeouts_count_as_timeouts_not_connection_errors(vendor, adapter):
    vendor.post(ORDERS, exception=aiohttp.ServerTimeoutError("read timed out"))
    outcome = await adapter.create_order(REQ)
    assert isinstance(outcome, Unknown) and outcome.reason == "timeout"


@pytest.mark.parametrize(
    "exc", [aiohttp.ClientConnectionError("refused"), aiohttp.ServerDisconnectedError()]
)
async def test_connection_failures_are_unknown_connection(vendor, adapter, exc):
    vendor.post(ORDERS, exception=exc)
    outcome = await adapter.create_order(REQ)
    assert isinstance(outcome, Unknown) and outcome.reason == "connection"


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_server_errors_are_unknown_with_the_status(vendor, adapter, status):
    vendor.post(ORDERS, status=status, payload=error_json("internal"))
    assert await adapter.create_order(REQ) == Unknown("server_error", "internal", status)


async def test_a_429_carries_retry_after_in_seconds(vendor, adapter):
    vendor.post(ORDERS, status=429, payload=error_json("slow_down"), headers={"Retry-After": "3"})
    assert await adapter.create_order(REQ) == Unknown("rate_limited", "slow_down", 429, 3.0)


async def test_a_429_whose_retry_after_is_not_ascii_digits_is_a_429_without_one(vendor, adapter):
    """'²' is a digit to str.isdigit but not to float(): the answer was a crash mid-order."""
    headers = {"Retry-After": "\u00b2"}
    vendor.post(ORDERS, status=429, payload=error_json("slow_down"), headers=headers)
    assert await adapter.create_order(REQ) == Unknown("rate_limited", "slow_down", 429, None)


async def test_a_429_retry_after_http_date_is_converted_to_seconds_from_now(vendor, adapter):
    headers = {"Retry-After": "Wed, 21 Oct 2026 07:28:00 GMT"}
    vendor.post(ORDERS, status=429, body="busy", content_type="text/plain", headers=headers)
    outcome = await adapter.create_order(REQ)
    assert outcome == Unknown("rate_limited", "http_429", 429, 30.0)


@pytest.mark.parametrize(
    ("status", "code", "business"),
    [
        (422, "brand_not_found", True),
        (422, "invalid_amount", True),
        (400, "invalid_request", False),
        (409, "duplicate_reference", False),
        (401, "unauthorized", False),
        (404, "brand_not_found", False),  # a documented code on an undocumented status: a proxy
    ],
)
async def test_4xx_answers_are_rejections_and_only_documented_codes_are_business_errors(
    vendor, adapter, status, code, business
):
    vendor.post(ORDERS, status=status, payload=error_json(code))
    expected = Rejected(code, f"{code} happened", status, business=business)
    assert await adapter.create_order(REQ) == expected


async def test_a_409_for_a_key_still_in_flight_is_ambiguous_not_rejected(vendor, adapter):
    vendor.post(ORDERS, status=409, payload=error_json("idempotency_key_in_use"))
    outcome = await adapter.create_order(REQ)
    assert isinstance(outcome, Unknown) and outcome.reason == "rate_limited"


async def test_a_fulfilled_reply_yields_the_card(vendor, adapter):
    card = {"code": "AAAA-BBBB", "pin": "1234", "url": "https://r.test/1"}
    vendor.post(ORDERS, status=201, payload=order_json(card=card))
    outcome = await adapter.create_order(REQ)
    assert outcome == Fulfilled(
        "vo_1", "fulfilled", CardSecret("AAAA-BBBB", "1234", "https://r.test/1")
    )


async def test_a_pending_reply_is_accepted_and_a_failed_one_rejected(vendor, adapter):
    vendor.post(ORDERS, status=201, payload=order_json("pending"))
    vendor.post(ORDERS, status=200, payload=order_json("failed"))
    assert await adapter.create_order(REQ) == Accepted("vo_1", "pending")
    assert await adapter.create_order(REQ) == Rejected(
        "vendor_failed", "vendor reports the order failed", 200, "vo_1"
    )


@pytest.mark.parametrize(
    "held", [{"amount_minor": 9900}, {"currency": "EUR"}], ids=["amount", "currency"]
)
async def test_an_answer_for_another_order_is_never_this_ones_success(vendor, adapter, held):
    vendor.post(ORDERS, status=200, payload=order_json(**held))
    outcome = await adapter.create_order(REQ)
    assert isinstance(outcome, Rejected) and outcome.code == "reference_conflict"


async def test_an_answer_with_another_references_order_is_unknown_not_a_conflict(vendor, adapter):
    """A conflict after an unanswered attempt is taken for that attempt's order; another
    reference's order is not ours, so it says nothing either way."""
    vendor.post(ORDERS, status=200, payload=order_json(reference="ref-of-another"))
    outcome = await adapter.create_order(REQ)
    assert isinstance(outcome, Unknown) and outcome.reason == "unexpected_reply"


async def test_a_record_in_a_currency_outside_iso_4217_is_refused_at_the_edge(vendor, adapter):
    """HRK was withdrawn in 2023: an amount in it has no exponent to read it by, and a
    discrepancy holding it could not be shown."""
    vendor.get(f"{ORDERS}?reference={REQ.reference}", payload=[order_json(currency="HRK")])
    with pytest.raises(VendorUnavailable) as refused:
        await adapter.get_order(REQ.reference)
    assert refused.value.reason == "bad_response"


@pytest.mark.parametrize(
    "stamp", ["0001-01-01T00:00:00+01:00", "2024-05-01T10:00:00"], ids=["no_utc_moment", "naive"]
)
async def test_a_record_whose_time_could_not_be_stored_is_refused_at_the_edge(
    vendor, adapter, stamp
):
    vendor.get(f"{ORDERS}?reference={REQ.reference}", payload=[order_json(updated_at=stamp)])
    with pytest.raises(VendorUnavailable) as refused:
        await adapter.get_order(REQ.reference)
    assert refused.value.reason == "bad_response"


async def test_an_unreadable_success_body_is_unknown_because_the_order_may_exist(vendor, adapter):
    vendor.post(ORDERS, status=201, body="<html>ok</html>", content_type="text/html")
    outcome = await adapter.create_order(REQ)
    assert isinstance(outcome, Unknown) and outcome.reason == "server_error"


async def test_the_request_carries_the_reference_as_key_and_the_api_key(vendor, adapter):
    vendor.post(ORDERS, status=201, payload=order_json())
    await adapter.create_order(REQ)
    (call,) = sent(vendor)
    assert call.kwargs["headers"]["Idempotency-Key"] == REQ.reference
    assert call.kwargs["headers"]["Authorization"] == "Bearer k_test"
    assert msgspec.json.decode(call.kwargs["data"]) == msgspec.structs.asdict(REQ)


def test_card_secrets_never_appear_in_reprs():
    outcome = Fulfilled("vo_1", "fulfilled", CardSecret("SECRET-CODE", "9876"))
    assert "SECRET-CODE" not in repr(outcome) and "9876" not in repr(outcome)


# --- reads ---------------------------------------------------------------------------------


async def test_get_order_returns_none_when_the_vendor_has_no_such_reference(vendor, adapter):
    vendor.get(f"{ORDERS}?reference={REQ.reference}", payload=[])
    assert await adapter.get_order(REQ.reference) is None


async def test_get_order_returns_the_earliest_of_duplicate_orders(vendor, adapter):
    later = order_json(id="vo_2", created_at="2026-10-21T08:00:00Z")
    vendor.get(f"{ORDERS}?reference={REQ.reference}", payload=[later, order_json()])
    view = await adapter.get_order(REQ.reference)
    assert view is not None and view.vendor_order_id == "vo_1"


@pytest.mark.parametrize(
    "failure", [{"status": 503}, {"exception": TimeoutError()}, {"status": 429}]
)
async def test_get_order_raises_unavailable_rather_than_claiming_absence(vendor, adapter, failure):
    vendor.get(f"{ORDERS}?reference={REQ.reference}", **failure)
    with pytest.raises(VendorUnavailable):
        await adapter.get_order(REQ.reference)


async def test_list_transactions_sends_the_window_and_decodes_the_page(vendor, adapter):
    start, end = NOW - timedelta(days=1), NOW
    url = f"{BASE}/v1/transactions?from=2026-10-20T07:27:30Z&to=2026-10-21T07:27:30Z&limit=50"
    vendor.get(url, payload={"data": [order_json()], "next_cursor": "c2"})
    page = await adapter.list_transactions(start, end, None, 50)
    assert [r.reference for r in page.records] == [REQ.reference] and page.next_cursor == "c2"


async def test_a_listing_cursor_the_log_could_not_keep_is_refused_at_the_edge(vendor, adapter):
    url = f"{BASE}/v1/transactions?from=2026-10-20T07:27:30Z&to=2026-10-21T07:27:30Z&limit=50"
    vendor.get(url, payload={"data": [order_json()], "next_cursor": "c\x00urs"})
    with pytest.raises(VendorUnavailable) as refused:
        await adapter.list_transactions(NOW - timedelta(days=1), NOW, None, 50)
    assert refused.value.reason == "bad_response" and "next_cursor" in refused.value.detail


@pytest.mark.parametrize(
    "poison",
    [
        {"id": "vo_\x00_1"},
        {"reference": "ref\nwith a newline"},
        {"id": "x" * 256},
        {"amount_minor": 2**63},
        {"amount_minor": -1},
        {"currency": "usd"},
        {"id": "vo_1\n"},
        {"currency": "USD\n"},
    ],
    ids=[
        "nul_id",
        "control_reference",
        "long_id",
        "past_bigint",
        "negative",
        "currency",
        "newline_after_id",
        "newline_after_currency",
    ],
)
async def test_vendor_data_that_could_poison_the_log_is_refused_at_the_edge(
    vendor, adapter, poison
):
    start, end = NOW - timedelta(days=1), NOW
    url = f"{BASE}/v1/transactions?from=2026-10-20T07:27:30Z&to=2026-10-21T07:27:30Z&limit=50"
    vendor.get(url, payload={"data": [order_json(**poison)], "next_cursor": None})
    with pytest.raises(VendorUnavailable) as refused:
        await adapter.list_transactions(start, end, None, 50)
    assert refused.value.reason == "bad_response"
    vendor.get(f"{ORDERS}?reference={REQ.reference}", payload=[order_json(**poison)])
    with pytest.raises(VendorUnavailable):
        await adapter.get_order(REQ.reference)
    vendor.post(ORDERS, status=201, payload=order_json(**poison))
    created = await adapter.create_order(REQ)
    assert isinstance(created, Unknown)  # the vendor said yes to something we cannot record


def test_a_vendor_error_body_that_is_not_an_error_object_is_kept_as_size_and_digest_only():
    """Issue 13, finding 6: a 4xx echoing the order, card included, must not reach the log."""
    echoed = b'{"id": "vo_1", "card": {"code": "SECRET-CODE-1234", "pin": "9876"}}'
    outcome = classify(400, {}, echoed, NOW, REQ)
    assert isinstance(outcome, Rejected)
    assert "SECRET" not in outcome.message and "9876" not in outcome.message
    digest = hashlib.sha256(echoed).hexdigest()
    assert outcome.message == f"{len(echoed)}-byte body, sha256 {digest}"
