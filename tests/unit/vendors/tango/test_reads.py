"""TangoAdapter's reads against recorded RaaS v2 answers: look-ups by externalRefID, listings
split where Tango caps them, unreadable records, and Tango's event envelope."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from ledger.vendors.base import CardSecret, VendorUnavailable
from ledger.vendors.tango.listing import ListingCursor
from ledger.vendors.tango.webhooks import parse_webhook
from tests.unit.vendors.tango.answers import LISTED, ORDERS, REQ, tango_error, tango_order


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
