"""Pure matching of vendor records against our orders."""

from datetime import timedelta

import msgspec
import pytest

from ledger.reconciliation.resolutions import ResolutionRefused, decide_resolution
from projections.discrepancies.matching import (
    OrderFacts,
    discrepancy_id,
    match,
    resolve,
    settle,
    touch,
)
from tests.factories import T0
from tests.factories import vendor_record as record

ORDER = OrderFacts(
    stream_id="order:acme:k1",
    vendor="sandbox",
    reference="gcl-1",
    status="fulfilled",
    amount_minor=2500,
    currency="USD",
    created_at=T0,
    webhook_statuses=("fulfilled",),
    vendor_order_ids=("vo_1",),
)


def kinds(findings):
    return sorted(f.kind for f in findings)


def test_a_matching_record_finds_nothing_and_remembers_the_vendor_order():
    seen, findings, missed = match(ORDER, record(), T0)
    assert findings == [] and not missed
    assert seen.vendor_order_ids == (record().vendor_order_id,)
    assert seen.last_vendor_status == record().status


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"amount_minor": 2400}, ["amount_mismatch"]),
        ({"currency": "EUR"}, ["currency_mismatch"]),
        ({"status": "refunded"}, ["status_mismatch"]),
        ({"vendor_order_id": "vo_2"}, ["duplicate_at_vendor"]),
        # Another vendor order's amount is not our order's: the duplicate is the finding.
        ({"vendor_order_id": "vo_2", "amount_minor": 1}, ["duplicate_at_vendor"]),
    ],
)
def test_each_difference_is_its_own_finding(changes, expected):
    assert kinds(match(ORDER, record(**changes), T0)[1]) == expected


def test_a_record_nobody_ordered_is_missing_internally():
    seen, findings, _ = match(None, record(reference="gcl-unknown"), T0)
    assert seen is None and kinds(findings) == ["missing_internally"]
    assert findings[0].id == discrepancy_id("missing_internally", "sandbox", "vo_1")


def test_a_vendor_status_no_webhook_announced_counts_as_a_missed_webhook():
    quiet = OrderFacts(
        **{**{f: getattr(ORDER, f) for f in ORDER.__struct_fields__}, "webhook_statuses": ()}
    )
    assert match(quiet, record(), T0)[2] is True
    assert match(quiet, record(status="pending"), T0)[2] is False


def test_the_same_discrepancy_seen_again_is_updated_not_duplicated():
    _, (first,) = match(ORDER, record(amount_minor=1), T0)[:2]
    opened = touch(None, first, "run_1", "seen")
    _, (again,) = match(ORDER, record(amount_minor=1, run_id="run_2"), T0 + timedelta(days=1))[:2]
    updated = touch(opened, again, "run_2", "seen")
    assert updated.id == opened.id and updated.first_seen_run == "run_1"
    assert updated.last_seen_run == "run_2" and len(updated.history) == 2
    closed = resolve(updated, T0, "checked")
    assert closed.resolutions == 1
    still = touch(closed, again, "run_3", "seen")
    assert (still.state, still.reopened_run, still.history[-1].what) == ("resolved", None, "seen")


def finding(order: OrderFacts, run_id: str, **changes):
    """The one finding a run's record of the order makes."""
    (found,) = match(order, record(run_id=run_id, **changes), T0)[1]
    return found


def test_a_resolved_finding_found_changed_opens_again_naming_what_changed():
    acknowledged = resolve(
        touch(None, finding(ORDER, "run_1", status="pending"), "run_1", "seen"), T0, "lagging"
    )
    failed = touch(acknowledged, finding(ORDER, "run_2", status="failed"), "run_2", "seen")
    assert (failed.state, failed.reopened_run, failed.first_seen_run) == ("open", "run_2", "run_1")
    assert failed.history[-1].what == "seen; reopened: vendor_status pending -> failed"
    assert failed.resolutions == 1  # and so the resolve guard lets one more through


def test_a_healed_finding_that_recurs_opens_again():
    opened = touch(None, finding(ORDER, "run_1", amount_minor=1), "run_1", "seen")
    healed = settle(opened, "auto_resolved", T0, "healed")
    recurred = touch(healed, finding(ORDER, "run_2", amount_minor=1), "run_2", "seen")
    assert (recurred.state, recurred.reopened_run) == ("open", "run_2")


def test_a_resolved_duplicate_opens_again_for_a_third_vendor_order_not_for_either_record():
    twice = msgspec.structs.replace(ORDER, vendor_order_ids=("vo_1", "vo_2"))
    resolved = resolve(touch(None, finding(twice, "run_1"), "run_1", "seen"), T0, "refunded one")
    assert resolved.vendor_order_id == "vo_2"  # the newest extra order, not the record's
    for listed in ("vo_1", "vo_2"):
        seen = touch(resolved, finding(twice, "run_2", vendor_order_id=listed), "run_2", "seen")
        assert seen.state == "resolved", listed
    third = touch(resolved, finding(twice, "run_3", vendor_order_id="vo_3"), "run_3", "seen")
    assert (third.state, third.vendor_order_id) == ("open", "vo_3")


def test_only_a_status_mismatch_can_be_corrected_by_accepting_the_vendor_status():
    common = dict(
        discrepancy_id="d_1", state="open", amount_minor=2500, note="checked", actor="ops", now=T0
    )
    events = decide_resolution(
        kind="status_mismatch", vendor_status="fulfilled", action="accept_vendor_status", **common
    )
    assert [type(e).__name__ for e in events] == ["OrderFulfilled", "DiscrepancyResolved"]
    with pytest.raises(ResolutionRefused):
        decide_resolution(
            kind="amount_mismatch", vendor_status=None, action="accept_vendor_status", **common
        )
    with pytest.raises(ResolutionRefused) as refused:
        decide_resolution(
            kind="amount_mismatch",
            vendor_status=None,
            action="acknowledge",
            **{**common, "state": "resolved"},
        )
    assert refused.value.status == 409


def test_a_duplicate_listed_before_our_own_vendor_order_is_named_by_the_extra_one():
    unseen = msgspec.structs.replace(ORDER, vendor_order_ids=())
    first, _, _ = match(unseen, record(vendor_order_id="vo_2"), T0, ours="vo_1")
    _, findings, _ = match(first, record(vendor_order_id="vo_1"), T0, ours="vo_1")
    assert [(f.kind, f.vendor_order_id) for f in findings] == [("duplicate_at_vendor", "vo_2")]


def test_only_our_own_vendor_order_is_compared_for_status_amount_and_currency():
    twice = msgspec.structs.replace(ORDER, vendor_order_ids=("vo_1", "vo_2"))
    other = record(vendor_order_id="vo_2", status="pending", amount_minor=1, currency="EUR")
    seen, findings, missed = match(twice, other, T0, ours="vo_1")
    assert kinds(findings) == ["duplicate_at_vendor"] and not missed
    assert seen.last_vendor_status is None  # what the vendor says of ours is not known yet
    _, ours, _ = match(seen, record(vendor_order_id="vo_1"), T0, ours="vo_1")
    assert kinds(ours) == ["duplicate_at_vendor"]  # ours agrees: no status finding to flap
