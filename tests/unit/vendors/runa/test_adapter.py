"""RunaAdapter against recorded API v2 answers (aioresponses): one sync payout-link item keyed
by X-Idempotency-Key with our reference in its metadata, errors by Runa's `type`, look-ups by
Runa's order id only, a listing with no date filter read in full where it leaves fields out."""

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
from ledger.vendors.runa.adapter import RunaAdapter
from ledger.vendors.runa.webhooks import parse_webhook
from tests.unit.vendors.rest_doubles import NOW

BASE = "https://playground.runa.test/v2"
ORDERS = f"{BASE}/order"
REQ = VendorOrderRequest("gcl-ref-0001", 2500, "USD", "amazon-us", "customer-9")
LINK = "https://spend.runa.test/p/abc"


def runa_order(status: str = "COMPLETED", face_value: str = "25.00", **extra: object) -> dict:
    """As developer.runa.io's order (2024-02-05) has it: money as decimal text."""
    order = {
        "id": "O-01H5WQGHKCBB85MQFM68S9KJ5Q",
        "status": status,
        "created_at": "2026-10-21T07:27:30Z",
        "currency": "USD",
        "total_price": face_value,
        "metadata": {"reference": REQ.reference},
        "items": [
            {"id": "E-1", "face_value": face_value, "price": face_value, "currency": "USD",
             "payout": {"status": "ACTIVE", "url": LINK}}
        ],
    }  # fmt: skip
    return order | extra


def runa_error(kind: str) -> dict[str, str]:
    return {"type": kind, "message": f"{kind} happened", "help": "https://developer.runa.io"}


@pytest.fixture
async def adapter() -> AsyncIterator[RunaAdapter]:
    async with aiohttp.ClientSession() as session:
        yield RunaAdapter(
            "runa", BASE, session, "runa_key", {"amazon-us": "AMZ-US"}, 2.0, timedelta(days=30),
            clock=lambda: NOW,
        )  # fmt: skip


async def test_the_order_is_one_sync_payout_link_keyed_by_our_reference(vendor, adapter):
    vendor.post(ORDERS, status=201, payload=runa_order())
    outcome = await adapter.create_order(REQ)
    assert outcome == Fulfilled(runa_order()["id"], "COMPLETED", CardSecret(LINK, None, LINK))
    (request,) = vendor.requests[("POST", URL(ORDERS))]
    assert json.loads(request.kwargs["data"]) == {
        "payment_method": {"currency": "USD", "type": "ACCOUNT_BALANCE"},
        "items": [
            {"face_value": 25.00, "products": {"value": "AMZ-US", "type": "SINGLE"},
             "distribution_method": {"type": "PAYOUT_LINK"}}
        ],
        "metadata": {"reference": REQ.reference},
    }  # fmt: skip
    headers = request.kwargs["headers"]
    assert headers["X-Idempotency-Key"] == REQ.reference and headers["X-Api-Key"] == "runa_key"
    assert headers["X-Execution-Mode"] == "sync" and headers["X-Api-Version"] == "2024-02-05"


async def test_a_processing_order_with_a_partial_body_is_pending(vendor, adapter):
    vendor.post(ORDERS, status=201, payload={"id": "O-1", "status": "PROCESSING"})
    assert await adapter.create_order(REQ) == Accepted("O-1", "PROCESSING")


@pytest.mark.parametrize(
    ("status", "kind", "expected", "business"),
    [
        (400, "insufficient_funds", Rejected, True),
        (422, "validation_error", Rejected, True),
        (400, "idempotency_validation_error", Rejected, True),  # another body under our key
        (401, "invalid_api_key", Rejected, False),
        (403, "forbidden", Rejected, False),
        (400, "invalid_version", Rejected, False),
        (409, "idempotency_in_progress", Unknown, None),
        (504, "timeout", Unknown, None),
        (500, "internal_server_error", Unknown, None),
    ],
)
async def test_each_documented_error_type_is_classified(
    vendor, adapter, status, kind, expected, business
):
    vendor.post(ORDERS, status=status, payload=runa_error(kind))
    outcome = await adapter.create_order(REQ)
    assert isinstance(outcome, expected), outcome
    if business is not None:
        assert outcome.business is business


async def test_a_429_waits_at_least_the_five_seconds_runa_asks_for(vendor, adapter):
    vendor.post(
        ORDERS, status=429, payload=runa_error("rate_limited"), headers={"Retry-After": "1"}
    )
    outcome = await adapter.create_order(REQ)
    assert isinstance(outcome, Unknown) and outcome.retry_after == 5.0


async def test_an_answer_for_another_amount_under_our_key_is_a_conflict(vendor, adapter):
    vendor.post(ORDERS, status=200, payload=runa_order(face_value="50.00"))
    outcome = await adapter.create_order(REQ)
    assert isinstance(outcome, Rejected) and outcome.code == "reference_conflict"


async def test_a_look_up_needs_runas_order_id_and_never_calls_a_missing_one_absent(vendor, adapter):
    assert adapter.looks_up_by_reference is False
    with pytest.raises(VendorUnavailable) as refused:
        await adapter.get_order(REQ.reference)
    assert refused.value.reason == "no_lookup_by_reference" and not vendor.requests
    vendor.get(f"{ORDERS}/O-1", payload=runa_order(id="O-1"))
    view = await adapter.get_order(REQ.reference, "O-1")
    assert view is not None and view.reference == REQ.reference and view.amount_minor == 2500
    vendor.get(f"{ORDERS}/O-2", status=404, payload=runa_error("not_found"))
    assert await adapter.get_order(REQ.reference, "O-2") is None


async def test_a_listing_keeps_the_window_and_reads_in_full_what_it_leaves_out(vendor, adapter):
    inside = {"id": "O-in", "status": "COMPLETED", "created_at": "2026-10-21T07:27:30Z"}
    outside = {"id": "O-out", "status": "COMPLETED", "created_at": "2026-10-01T00:00:00Z"}
    vendor.get(
        re.compile(rf"^{re.escape(ORDERS)}\?.*$"),
        payload={"items": [inside, outside], "pagination": {"cursors": {"after": "O-out"}}},
    )
    vendor.get(f"{ORDERS}/O-in", payload=runa_order(id="O-in"))
    start = datetime(2026, 10, 21, tzinfo=UTC)
    page = await adapter.list_transactions(start, start + timedelta(days=1), None, 100)
    assert [r.vendor_order_id for r in page.records] == ["O-in"] and page.next_cursor == "O-out"


async def test_a_listing_cursor_the_log_could_not_keep_is_refused(vendor, adapter):
    vendor.get(
        re.compile(rf"^{re.escape(ORDERS)}\?.*$"),
        payload={"items": [], "pagination": {"cursors": {"after": "O\x00"}}},
    )
    start = datetime(2026, 10, 21, tzinfo=UTC)
    with pytest.raises(VendorUnavailable) as refused:
        await adapter.list_transactions(start, start + timedelta(days=1), None, 100)
    assert refused.value.reason == "bad_response" and "after" in refused.value.detail


def test_a_completion_webhook_names_runas_order_and_our_reference():
    hint = parse_webhook(json.dumps(runa_order()).encode())
    assert (hint.vendor_order_id, hint.reference, hint.status) == (
        runa_order()["id"],
        REQ.reference,
        "COMPLETED",
    )


async def test_a_face_value_that_cannot_be_read_is_never_taken_for_the_amount_asked(
    vendor, adapter
):
    vendor.post(ORDERS, status=201, payload=runa_order(face_value="25.005"))
    outcome = await adapter.create_order(REQ)
    assert isinstance(outcome, Unknown) and outcome.reason == "unexpected_reply"


async def test_a_face_value_in_exponent_notation_is_compared_with_the_amount_asked(vendor, adapter):
    vendor.post(ORDERS, status=201, payload=runa_order(face_value="2.5E+3"))  # 2,500 dollars
    outcome = await adapter.create_order(REQ)
    assert isinstance(outcome, Rejected) and outcome.code == "reference_conflict"
