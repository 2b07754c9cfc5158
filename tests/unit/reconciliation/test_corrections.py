"""Which vendor records heal an order by themselves, and how a run's stream reads back."""

from datetime import UTC, datetime, timedelta

import msgspec

from ledger.log import events as ev
from ledger.log.store import RecordedEvent
from ledger.orders.model import OrderState, evolve
from ledger.reconciliation.corrections import confirms, order_events
from ledger.reconciliation.progress import progress_of, summary
from ledger.vendors.base import VendorOrderView
from tests.factories import vendor_record

T0 = datetime(2024, 5, 1, 10, tzinfo=UTC)
NOW = datetime(2024, 5, 2, 2, tzinfo=UTC)
STREAM = "order:acme:key-1"


def pending_order(**changes) -> OrderState:
    requested = ev.OrderRequested(
        client_id="acme",
        idempotency_key="key-1",
        customer_id="c",
        brand_id="b",
        amount_minor=2500,
        currency="USD",
        fingerprint="f",
        vendor="sandbox",
        vendor_reference="gcl-1",
        requested_at=T0,
    )
    state = evolve(None, requested, STREAM, 1, T0)
    return msgspec.structs.replace(state, **changes)


def record(status="fulfilled", **changes) -> VendorOrderView:
    values = {
        "vendor_order_id": "vo_1",
        "reference": "gcl-1",
        "status": status,
        "amount_minor": 2500,
        "currency": "USD",
        "created_at": T0,
        "updated_at": T0,
    }
    return VendorOrderView(**(values | changes))


def events_for(state, *records):
    return order_events(state, list(records), run_id="r1", vendor="sandbox", page=3, now=NOW)


def test_a_pending_order_the_vendor_fulfilled_is_observed_then_fulfilled_by_reconciliation():
    observed, fulfilled = events_for(pending_order(), record("fulfilled"))
    assert isinstance(observed, ev.VendorRecordObserved)
    assert (observed.run_id, observed.page, observed.status) == ("r1", 3, "fulfilled")
    assert fulfilled == ev.OrderFulfilled(
        vendor_order_id="vo_1",
        source="reconciliation",
        fulfilled_at=T0,  # the vendor record's updated_at
    )


def test_a_pending_order_the_vendor_failed_fails_and_a_refunded_one_is_fulfilled_then_refunded():
    _, failed = events_for(pending_order(), record("failed"))
    assert isinstance(failed, ev.OrderFailed) and failed.source == "reconciliation"
    kinds = [type(e).__name__ for e in events_for(pending_order(), record("refunded"))]
    assert kinds == ["VendorRecordObserved", "OrderFulfilled", "OrderRefunded"]


def test_a_fulfilled_order_the_vendor_refunded_is_refunded():
    state = pending_order(status="fulfilled", vendor_order_id="vo_1")
    _, refunded = events_for(state, record("refunded"))
    assert refunded == ev.OrderRefunded(amount_minor=2500, source="reconciliation", refunded_at=T0)


def test_agreement_and_unsafe_contradictions_are_only_observed():
    cases = [
        (pending_order(), "pending"),
        (pending_order(status="fulfilled"), "fulfilled"),
        (pending_order(status="failed"), "fulfilled"),  # a person decides this one
        (pending_order(status="fulfilled"), "failed"),
    ]
    for state, status in cases:
        assert [type(e) for e in events_for(state, record(status))] == [ev.VendorRecordObserved]


def test_a_record_with_another_amount_currency_or_vendor_order_is_not_trusted_to_heal():
    assert not confirms(pending_order(), record(amount_minor=2600))
    assert not confirms(pending_order(), record(currency="EUR"))
    assert not confirms(pending_order(vendor_order_id="vo_other"), record())
    assert confirms(pending_order(vendor_order_id="vo_1"), record())
    assert len(events_for(pending_order(), record(amount_minor=2600))) == 1


def test_an_order_the_vendor_lists_twice_is_observed_twice_and_never_corrected():
    events = events_for(pending_order(), record(), record(vendor_order_id="vo_2"))
    assert [type(e) for e in events] == [ev.VendorRecordObserved, ev.VendorRecordObserved]


def test_a_record_without_a_readable_order_is_only_observed():
    assert [type(e) for e in events_for(None, record())] == [ev.VendorRecordObserved]


def recorded(events: list[ev.Event]) -> list[RecordedEvent]:
    return [
        RecordedEvent(i, 1, "reconciliation:r1", i, ev.type_name(e), ev.encode(e), {}, NOW)
        for i, e in enumerate(events, start=1)
    ]


STARTED = ev.ReconciliationStarted(
    run_id="r1", vendor="sandbox", window_start=T0, window_end=NOW, started_at=NOW
)


def page(number: int, records: int, cursor: str | None) -> ev.ReconciliationPageRecorded:
    return ev.ReconciliationPageRecorded(
        run_id="r1", page=number, records=records, next_cursor=cursor, recorded_at=NOW
    )


def test_a_stopped_run_resumes_after_its_last_page_cursor():
    unmatched = vendor_record(
        run_id="r1",
        vendor_order_id="vo_9",
        reference="elsewhere",
        amount_minor=1,
        observed_at=NOW,
        page=2,
    )
    progress = progress_of(recorded([STARTED, page(1, 5, "c1"), unmatched, page(2, 5, "c2")]))
    assert (progress.version, progress.pages, progress.records) == (4, 2, 10)
    assert (progress.cursor, progress.listed, progress.unmatched) == ("c2", False, 1)
    assert progress.completed is None


def test_a_completed_run_reads_back_as_its_summary():
    completed = ev.ReconciliationCompleted(run_id="r1", records_seen=7, pages=2, completed_at=NOW)
    progress = progress_of(recorded([STARTED, page(1, 5, "c1"), page(2, 2, None), completed]))
    assert progress.listed
    done = summary(progress, already_completed=True)
    assert (done.records_seen, done.pages, done.already_completed) == (7, 2, True)
    assert progress_of([]) is None


def test_a_correction_is_dated_when_the_vendor_changed_the_order_not_when_we_listed_it():
    changed = NOW - timedelta(hours=12)  # after the order was placed (T0)

    def corrected_at(updated_at: datetime) -> list[datetime]:
        listed = record(updated_at=updated_at)
        events = order_events(
            pending_order(), [listed], run_id="r1", vendor="sandbox", page=1, now=NOW
        )
        return [e.fulfilled_at for e in events if isinstance(e, ev.OrderFulfilled)]

    assert corrected_at(changed) == [changed]
    assert corrected_at(NOW + timedelta(hours=1)) == [NOW]  # a vendor clock ahead of ours
    # A vendor clock behind ours, or a local time read as UTC: never before our order existed
    # (the GL posted the move on a day the order was not yet pending: a negative balance).
    assert corrected_at(T0 - timedelta(days=1)) == [T0]
