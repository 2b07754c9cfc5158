"""The terminal-state rules, one test per cell of the table in ledger/orders/transitions.py,
and the fold applying them to every event that moves a status."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ledger.log import events as ev
from ledger.orders.transitions import MOVES, STATUSES, may_move
from tests.factories import T0
from tests.unit.orders.test_model import apply, created

# The table as the docs state it: (from, to) -> who may make the move; None: nobody.
TABLE = {
    ("pending", "fulfilled"): "vendor",
    ("pending", "failed"): "vendor",
    ("pending", "refunded"): "vendor",
    ("fulfilled", "pending"): None,
    ("fulfilled", "failed"): "person",
    ("fulfilled", "refunded"): "vendor",
    ("failed", "pending"): None,
    ("failed", "fulfilled"): "person",
    ("failed", "refunded"): "person",
    ("refunded", "pending"): None,
    ("refunded", "fulfilled"): "person",
    ("refunded", "failed"): "person",
}


@pytest.mark.parametrize(("current", "target"), sorted(TABLE))
def test_each_cell_of_the_table_allows_exactly_its_authority(current, target):
    needed = TABLE[(current, target)]
    assert may_move(current, target, "vendor") is (needed == "vendor")
    assert may_move(current, target, "person") is (needed is not None)


def test_the_table_covers_every_move_between_different_statuses():
    moves = {(a, b) for a in STATUSES for b in STATUSES if a != b}
    assert set(TABLE) == moves and set(MOVES) == {m for m, who in TABLE.items() if who}


def sent_and(outcome: str, **fields: object) -> list[ev.Event]:
    return [
        ev.VendorRequestSent(vendor="sandbox", vendor_reference="r", attempt=1, sent_at=T0),
        ev.VendorResponseReceived(
            vendor="sandbox", attempt=1, outcome=outcome, received_at=T0, **fields
        ),
    ]


FULFILLED = sent_and("fulfilled", vendor_order_id="vo_1", vendor_status="fulfilled")
REFUNDED_BY_VENDOR = ev.OrderRefunded(amount_minor=2500, source="confirmation", refunded_at=T0)
FAILED_BY_VENDOR = ev.OrderFailed(reason="failed at vendor", source="confirmation", failed_at=T0)
LATE_FULFILLED = ev.VendorResponseReceived(
    vendor="sandbox", attempt=2, outcome="fulfilled", received_at=T0, vendor_order_id="vo_1"
)


def test_a_late_fulfilled_answer_does_not_revive_a_refunded_order():
    state = apply(created(), *FULFILLED, REFUNDED_BY_VENDOR, LATE_FULFILLED)
    assert (state.status, state.refunded_minor) == ("refunded", 2500)


def test_a_late_fulfilled_answer_does_not_turn_a_failed_order_into_an_expense():
    state = apply(created(), FAILED_BY_VENDOR, LATE_FULFILLED)
    assert state.status == "failed"


def test_a_vendor_cannot_fail_a_fulfilled_order_but_a_person_can():
    fulfilled = apply(created(), *FULFILLED)
    assert apply(fulfilled, FAILED_BY_VENDOR).status == "fulfilled"
    by_person = ev.OrderFailed(reason="resolved", source="manual", failed_at=T0)
    assert apply(fulfilled, by_person).status == "failed"


def test_a_vendor_record_in_status_refunded_is_a_refund_not_a_fulfilment():
    state = apply(
        created(), *sent_and("fulfilled", vendor_order_id="vo_1", vendor_status="refunded")
    )
    assert (state.status, state.refunded_minor) == ("refunded", 2500)


def test_a_status_that_does_not_move_leaves_updated_at_alone_but_records_the_version():
    fulfilled = apply(created(), *FULFILLED)
    later = apply(fulfilled, FAILED_BY_VENDOR)
    assert later.version == fulfilled.version + 1 and later.status == "fulfilled"
    assert later.updated_at - fulfilled.updated_at <= timedelta(seconds=1)
