"""What the inbox keeps of refused webhooks, which anyone on the internet can send: a number a
minute per vendor, and bounded headers."""

from __future__ import annotations

from ledger.webhooks.inbox import MAX_HEADER_CHARS, MAX_HEADERS, kept_headers
from ledger.webhooks.refusals import RefusalBudget


def test_a_vendor_may_have_its_budget_of_refusals_kept_at_once_and_no_more():
    budget = RefusalBudget(per_minute=3)
    kept = [budget.take("tango", now=100.0) for _ in range(5)]
    assert kept == [True, True, True, False, False]


def test_the_budget_refills_at_its_rate_a_minute():
    budget = RefusalBudget(per_minute=60)
    assert all(budget.take("tango", now=0.0) for _ in range(60))
    assert not budget.take("tango", now=0.5)
    assert budget.take("tango", now=1.0)  # one a second comes back
    assert not budget.take("tango", now=1.0)
    assert sum(budget.take("tango", now=3600.0) for _ in range(100)) == 60  # never above a minute's


def test_one_vendors_flood_spends_nothing_of_anothers_budget():
    budget = RefusalBudget(per_minute=2)
    assert [budget.take("tango", now=5.0) for _ in range(3)] == [True, True, False]
    assert budget.take("runa", now=5.0)


def test_a_budget_of_zero_keeps_no_refusal():
    assert not RefusalBudget(per_minute=0).take("tango", now=0.0)


def test_a_long_header_value_is_cut_and_says_how_long_it_was():
    kept = kept_headers({"X-Padding": "a" * 10_000, "webhook-id": "evt_1"})
    assert kept["webhook-id"] == "evt_1"
    assert kept["X-Padding"] == "a" * MAX_HEADER_CHARS + " ... (10000 characters, cut)"


def test_headers_past_the_most_kept_are_counted_not_kept():
    headers = {f"X-H{n}": "v" for n in range(MAX_HEADERS + 10)}
    kept = kept_headers(headers)
    assert len(kept) == MAX_HEADERS + 1
    assert kept["X-H0"] == "v" and f"X-H{MAX_HEADERS}" not in kept
    assert kept["..."] == "10 more headers not kept"
