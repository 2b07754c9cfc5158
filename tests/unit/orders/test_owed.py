"""What an order is owed, from its events alone: its schedule, an unconfirmed hint, whether the
vendor may hold it, and its card (findings 1 to 4 of issue 11, at the fold)."""

from __future__ import annotations

from datetime import timedelta

from ledger.log import events as ev
from ledger.orders.decisions import decide_after_lookup, decide_submission, next_vendor_step
from ledger.orders.model import DRIVEN_BY_REQUEST, evolve, is_due
from ledger.orders.schedule import RetryPolicy, retry_scheduled
from tests.factories import T0, submit_order
from tests.unit.orders.test_model import apply, created

SENT = ev.VendorRequestSent(vendor="sandbox", vendor_reference="r", attempt=1, sent_at=T0)
TIMED_OUT = ev.VendorCallFailed(
    vendor="sandbox", attempt=1, reason="timeout", detail="no reply", failed_at=T0
)
POLICY = RetryPolicy(base_s=1.0, cap_s=300.0)
DAY = timedelta(hours=24)


def webhook(status: str = "fulfilled") -> ev.WebhookReceived:
    return ev.WebhookReceived(
        vendor="sandbox",
        webhook_id="evt_1",
        event_type=f"order.{status}",
        reported_status=status,
        reference="r",
        vendor_order_id="vo_1",
        body_sha256="0" * 64,
        received_at=T0 + timedelta(minutes=5),
    )


def observed(status: str) -> ev.VendorStatusObserved:
    return ev.VendorStatusObserved(
        vendor="sandbox", reference="r", status=status, observed_at=T0, cause="webhook"
    )


def test_a_new_order_is_due_to_the_completer_once_its_request_had_its_chance():
    state = created()
    assert state.next_attempt_at == T0 + DRIVEN_BY_REQUEST
    assert not is_due(state, T0) and is_due(state, T0 + DRIVEN_BY_REQUEST)
    fulfilled = apply(state, *decide_after_lookup(state, "fulfilled", "vo_1", T0))
    assert fulfilled.next_attempt_at is None and not is_due(fulfilled, T0 + DAY)


def test_a_bulk_row_is_due_to_the_completer_at_once():
    bulk = submit_order(source="bulk")
    _, (requested,) = decide_submission(None, bulk, in_flight=False, now=T0)
    assert evolve(None, requested, bulk.stream_id, 1, T0).next_attempt_at == T0


def test_every_retry_scheduled_moves_the_schedule_and_grows_the_backoff():
    state = apply(created(), SENT, TIMED_OUT)
    delays = []
    for _ in range(12):
        retry = retry_scheduled(state, "timeout", T0, POLICY, jitter=1.0)
        state = apply(state, retry)
        assert state.next_attempt_at == retry.due_at
        delays.append((retry.due_at - T0).total_seconds())
    assert delays[:4] == [1.0, 2.0, 4.0, 8.0] and delays[-1] == 300.0
    assert state.retries == 12


def test_jitter_spreads_a_retry_over_the_upper_half_of_its_backoff():
    state = apply(created(), *[retry_scheduled(created(), "x", T0, POLICY, 1.0)] * 3)
    low = retry_scheduled(state, "timeout", T0, POLICY, jitter=0.0)
    high = retry_scheduled(state, "timeout", T0, POLICY, jitter=0.999)
    assert (low.due_at - T0).total_seconds() == 4.0
    assert 7.99 < (high.due_at - T0).total_seconds() < 8.0


def test_a_retry_after_beyond_the_backoff_is_obeyed_and_a_garbage_one_is_bounded():
    state = created()
    assert retry_scheduled(state, "rate_limited", T0, POLICY, 0.0, 90.0).due_at == T0 + timedelta(
        seconds=90
    )
    parked = retry_scheduled(state, "rate_limited", T0, POLICY, 0.0, 10.0**9)
    assert parked.due_at == T0 + timedelta(hours=1)


def test_a_webhook_makes_the_order_due_for_a_lookup_until_one_answers():
    fulfilled = apply(created(), *decide_after_lookup(created(), "fulfilled", "vo_1", T0))
    hinted = apply(fulfilled, webhook("refunded"))
    assert hinted.hint_pending and hinted.next_attempt_at == webhook().received_at
    assert next_vendor_step(hinted, T0, DAY) == "lookup"
    failed_lookup = apply(hinted, retry_scheduled(hinted, "lookup_http_503", T0, POLICY, 0.5))
    assert failed_lookup.hint_pending and failed_lookup.next_attempt_at is not None
    answered = apply(failed_lookup, observed("fulfilled"))
    assert not answered.hint_pending and answered.next_attempt_at is None


def test_a_webhook_on_a_pending_order_asks_the_vendor_instead_of_resubmitting():
    state = apply(created(), SENT, TIMED_OUT, webhook())
    assert next_vendor_step(state, T0, DAY) == "lookup"


def test_an_unanswered_attempt_makes_the_order_uncertain_until_the_vendor_says_it_has_none():
    assert not apply(created(), SENT).uncertain  # in flight, answered or not: not yet known
    assert apply(created(), SENT, TIMED_OUT).uncertain
    crashed_then_retried = apply(created(), SENT, SENT)
    assert crashed_then_retried.uncertain
    assert not apply(crashed_then_retried, observed("not_found")).uncertain


def test_a_card_from_a_lookup_is_shown_with_the_order():
    state = apply(created(), SENT, TIMED_OUT)
    settled = decide_after_lookup(state, "fulfilled", "vo_1", T0, card_stored=True)
    assert apply(state, *settled).card_stored
    assert not apply(state, *decide_after_lookup(state, "fulfilled", "vo_1", T0)).card_stored


def test_without_its_id_a_vendor_that_cannot_look_up_by_reference_is_asked_by_a_replay():
    """Runa finds an order by its own id only: an unanswered attempt (and even a webhook) is
    settled by replaying the create with the same key, while the vendor still keeps it."""
    unanswered = apply(created(), SENT, TIMED_OUT)
    hinted = apply(unanswered, webhook())
    for state in (unanswered, hinted):
        assert next_vendor_step(state, T0, DAY, by_reference=False) == "submit"
        assert next_vendor_step(state, T0 + 2 * DAY, DAY, by_reference=False) == "lookup"
    accepted = ev.VendorResponseReceived(
        vendor="sandbox", attempt=1, outcome="accepted", received_at=T0,
        vendor_order_id="O-1", vendor_status="PROCESSING",
    )  # fmt: skip
    answered = apply(created(), SENT, accepted)
    assert next_vendor_step(answered, T0, DAY, by_reference=False) == "lookup"
