"""The pure order logic: folding events into state, and deciding what a request means."""

from datetime import timedelta

import msgspec
import pytest

from ledger.log import events as ev
from ledger.log.store import RecordedEvent
from ledger.orders.decisions import (
    decide_after_lookup,
    decide_submission,
    next_vendor_step,
    vendor_reference,
)
from ledger.orders.journal import outcome_event
from ledger.orders.model import UNCHANGING, evolve, evolve_recorded
from ledger.vendors.base import answered
from ledger.vendors.reloadly.records import STATUSES as RELOADLY_STATUSES
from ledger.vendors.tango.records import order_status as tango_status
from tests.factories import T0, submit_order
from tests.unit.log.test_events import FIXTURES

CMD = submit_order()


def created():
    _, (requested,) = decide_submission(None, CMD, in_flight=False, now=T0)
    return evolve(None, requested, CMD.stream_id, 1, T0)


def apply(state, *events):
    for event in events:
        state = evolve(state, event, state.stream_id, state.version + 1, T0 + timedelta(seconds=1))
    return state


def test_a_first_submission_creates_a_pending_order_with_a_stable_vendor_reference():
    outcome, (requested,) = decide_submission(None, CMD, in_flight=False, now=T0)
    assert outcome == "create"
    assert requested.vendor_reference == vendor_reference("order:acme:order-0001")
    assert requested.fingerprint == CMD.fingerprint
    state = created()
    assert (state.status, state.attempts, state.version) == ("pending", 0, 1)


def test_the_same_payload_replays_and_a_different_payload_conflicts():
    state = created()
    assert decide_submission(state, CMD, in_flight=False, now=T0)[0] == "replay"
    changed = msgspec.structs.replace(CMD, amount_minor=2501)
    outcome, (conflict,) = decide_submission(state, changed, in_flight=False, now=T0)
    assert outcome == "mismatch" and conflict.reason == "payload_mismatch"


def test_a_submission_while_another_is_in_flight_is_recorded_as_such():
    outcome, (conflict,) = decide_submission(created(), CMD, in_flight=True, now=T0)
    assert outcome == "in_flight" and conflict.reason == "in_flight"


def test_a_settled_order_is_replayed_even_while_someone_else_holds_its_lease():
    fulfilled = msgspec.structs.replace(created(), status="fulfilled")
    outcome, (replayed,) = decide_submission(fulfilled, CMD, in_flight=True, now=T0)
    assert outcome == "replay" and isinstance(replayed, ev.RequestReplayed)


def test_the_fingerprint_ignores_which_vendor_and_source_serve_the_order():
    bulk = msgspec.structs.replace(CMD, vendor="other", source="bulk")
    assert bulk.fingerprint == CMD.fingerprint


def test_an_attempt_without_an_answer_is_remembered_until_the_vendor_answers():
    sent = ev.VendorRequestSent(vendor="sandbox", vendor_reference="r", attempt=1, sent_at=T0)
    state = apply(created(), sent)
    assert state.unanswered_attempt and state.attempts == 1
    answered = ev.VendorResponseReceived(
        vendor="sandbox",
        attempt=1,
        outcome="fulfilled",
        received_at=T0,
        vendor_order_id="vo_1",
        card_stored=True,
    )
    state = apply(state, answered)
    assert (state.status, state.vendor_order_id, state.card_stored) == ("fulfilled", "vo_1", True)
    assert not state.unanswered_attempt


def test_a_terminal_order_never_moves_back_to_pending():
    fulfilled = ev.OrderFulfilled(vendor_order_id="vo_1", source="vendor", fulfilled_at=T0)
    late = ev.VendorResponseReceived(
        vendor="sandbox", attempt=2, outcome="accepted", received_at=T0, vendor_order_id="vo_1"
    )
    assert apply(created(), fulfilled, late).status == "fulfilled"


def test_a_rejection_fails_the_order_with_the_vendor_code():
    rejected = ev.VendorResponseReceived(
        vendor="sandbox", attempt=1, outcome="rejected", received_at=T0, code="brand_not_found"
    )
    state = apply(created(), rejected)
    assert (state.status, state.failure_reason) == ("failed", "brand_not_found")


def test_replays_and_conflicts_change_the_version_but_not_the_order():
    state = created()
    replayed = apply(state, ev.RequestReplayed(fingerprint="f", replayed_at=T0))
    assert replayed.version == 2
    assert replayed.updated_at == state.updated_at and replayed.status == "pending"


@pytest.mark.parametrize(
    ("events", "age", "step"),
    [
        ([], timedelta(0), "submit"),
        (["sent"], timedelta(hours=1), "submit"),
        (["sent"], timedelta(hours=22), "lookup"),
        (["sent", "accepted"], timedelta(0), "lookup"),
        (["sent", "fulfilled"], timedelta(0), "none"),
    ],
)
def test_the_next_vendor_step_never_risks_a_second_vendor_order(events, age, step):
    catalog = {
        "sent": ev.VendorRequestSent(vendor="sandbox", vendor_reference="r", attempt=1, sent_at=T0),
        "accepted": ev.VendorResponseReceived(
            vendor="sandbox", attempt=1, outcome="accepted", received_at=T0, vendor_order_id="v"
        ),
        "fulfilled": ev.VendorResponseReceived(
            vendor="sandbox", attempt=1, outcome="fulfilled", received_at=T0, vendor_order_id="v"
        ),
    }
    state = apply(created(), *(catalog[name] for name in events))
    assert next_vendor_step(state, T0 + age, key_retention=timedelta(hours=24)) == step


def test_an_order_never_sent_to_a_vendor_that_finds_only_by_its_own_id_is_sent_late_too():
    """Runa cannot look an order up by our reference: past its key's retention an order it
    may hold waits for reconciliation, but one never sent (its vendor was unconfigured for
    four weeks, say) cannot be held there, and is sent."""
    late = T0 + timedelta(days=28)
    never_sent = created()
    assert next_vendor_step(never_sent, late, timedelta(days=30), by_reference=False) == "submit"
    sent = apply(
        never_sent, ev.VendorRequestSent(vendor="runa", vendor_reference="r", attempt=1, sent_at=T0)
    )
    assert next_vendor_step(sent, late, timedelta(days=30), by_reference=False) == "lookup"


def test_a_lookup_confirms_terminal_states_and_settles_nothing_else():
    state = created()
    assert [type(e).__name__ for e in decide_after_lookup(state, "fulfilled", "v", T0)] == [
        "OrderFulfilled"
    ]
    assert [type(e).__name__ for e in decide_after_lookup(state, "failed", None, T0)] == [
        "OrderFailed"
    ]
    assert decide_after_lookup(state, "pending", "v", T0) == []
    assert decide_after_lookup(state, "not_found", None, T0) == []


@pytest.mark.parametrize("type_name", sorted(UNCHANGING))
def test_events_the_fold_skips_decoding_would_change_nothing_but_the_version(type_name):
    stored = (FIXTURES / f"{type_name}.json").read_bytes()
    state = created()
    recorded = RecordedEvent(9, 1, state.stream_id, 2, type_name, stored, None, T0)
    assert evolve_recorded(state, recorded) == evolve(
        state, ev.decode(stored), state.stream_id, 2, T0
    )


@pytest.mark.parametrize(
    ("ours", "vendor_status"),
    [
        (lambda status: status, "refunded"),  # the sandbox dialect speaks ours
        (tango_status, "CANCELLED"),
        (tango_status, "CANCELED"),
        (RELOADLY_STATUSES.get, "REFUNDED"),
    ],
    ids=["sandbox", "tango", "tango_us_spelling", "reloadly"],
)
def test_a_create_answered_with_an_order_refunded_since_folds_to_refunded_in_any_vendors_words(
    ours, vendor_status
):
    """Tango and Reloadly answer a repeated create with the order as it stands; Tremendous'
    CANCELED is a failure and Giftbit's campaigns are never refunded, so they are not here."""
    outcome = answered(ours(vendor_status), "V-1", vendor_status, 200, None)
    state = apply(created(), outcome_event("vendor", 1, outcome, T0))
    assert (state.status, state.refunded_minor) == ("refunded", state.amount_minor)


def test_a_vendors_key_retention_is_counted_from_the_first_send_not_the_order():
    """The vendor first sees our key when it is first sent: an order whose vendor was away
    for weeks keeps its whole retention for replays from then on."""
    first_send = T0 + timedelta(days=28)
    sent = apply(
        created(),
        ev.VendorRequestSent(vendor="runa", vendor_reference="r", attempt=1, sent_at=first_send),
    )
    assert sent.first_sent_at == first_send
    again = apply(
        sent,
        ev.VendorRequestSent(
            vendor="runa", vendor_reference="r", attempt=2, sent_at=first_send + timedelta(days=1)
        ),
    )
    assert again.first_sent_at == first_send
    soon_after = first_send + timedelta(days=1)
    retention = timedelta(days=27)
    assert next_vendor_step(sent, soon_after, retention, by_reference=False) == "submit"
    assert next_vendor_step(sent, soon_after, retention) == "submit"
    assert next_vendor_step(sent, first_send + retention, retention) == "lookup"
