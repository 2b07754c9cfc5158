"""What a merchant is told about an order: one announcement per status it reached, carrying
the order as the API shows it then, with an id derived from what it announces."""

from datetime import timedelta

import msgspec

from ledger.log import events as ev
from ledger.log.store import RecordedEvent
from ledger.orders.decisions import decide_submission
from ledger.webhooks.outgoing import announcement_id, order_changes
from tests.factories import T0, submit_order

CMD = submit_order()


def stream() -> list[RecordedEvent]:
    _, (requested,) = decide_submission(None, CMD, in_flight=False, now=T0)
    events = [
        requested,
        ev.VendorRequestSent(vendor="sandbox", vendor_reference="r", attempt=1, sent_at=T0),
        ev.VendorResponseReceived(
            vendor="sandbox", attempt=1, outcome="fulfilled", received_at=T0, vendor_order_id="vo_1"
        ),
        ev.OrderRefunded(amount_minor=CMD.amount_minor, source="vendor", refunded_at=T0),
    ]
    return [
        RecordedEvent(
            v, 1, CMD.stream_id, v, ev.type_name(e), ev.encode(e), None, T0 + timedelta(seconds=v)
        )
        for v, e in enumerate(events, start=1)
    ]


def test_each_status_an_order_reaches_is_announced_once_with_the_order_as_it_was():
    announced = list(order_changes(stream(), {1, 2, 3, 4}))
    assert [a.type for a in announced] == ["order.pending", "order.fulfilled", "order.refunded"]
    assert [a.seq for a in announced] == [1, 3, 4]
    assert {a.ordering_key for a in announced} == {CMD.stream_id}
    bodies = [msgspec.json.decode(a.payload) for a in announced]
    assert [b["data"]["status"] for b in bodies] == ["pending", "fulfilled", "refunded"]
    assert bodies[0]["data"]["vendor_order_id"] is None
    assert bodies[1]["data"]["vendor_order_id"] == "vo_1"
    assert all(b["data"]["card"] is None for b in bodies)
    assert [b["id"] for b in bodies] == [a.id for a in announced]


def test_only_the_versions_asked_for_are_announced_and_ids_are_stable():
    again = list(order_changes(stream(), {3}))
    assert [a.type for a in again] == ["order.fulfilled"]
    assert again[0].id == announcement_id("order.fulfilled", f"{CMD.stream_id}:3")
    assert again[0] == list(order_changes(stream(), {1, 3}))[1]
