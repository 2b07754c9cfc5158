"""Parsing SANDBOX_FAULTS and the determinism of the seeded injector."""

from __future__ import annotations

import pytest

from ledger.vendors.sandbox.faults import (
    DEFAULT_HANG_MS,
    FaultInjector,
    SandboxFaults,
    parse_faults,
)

DESIGN_EXAMPLE = (
    "seed=7,latency_ms=20,error_5xx=0.1,rate_429=0.05,timeout_after_commit=0.3,"
    "webhook_drop=0.2,webhook_duplicate=0.2,webhook_delay_ms=500,webhook_forged=0.05"
)


def test_the_design_example_parses_into_every_field():
    assert parse_faults(DESIGN_EXAMPLE) == SandboxFaults(
        seed=7,
        latency_ms=20,
        error_5xx=0.1,
        rate_429=0.05,
        timeout_after_commit=0.3,
        hang_ms=DEFAULT_HANG_MS,
        webhook_drop=0.2,
        webhook_duplicate=0.2,
        webhook_delay_ms=500,
        webhook_forged=0.05,
    )


def test_an_empty_string_means_no_faults_at_all():
    assert parse_faults("") == SandboxFaults()
    assert parse_faults("") == parse_faults(" , ")


def test_whitespace_around_items_and_the_hang_override_are_accepted():
    faults = parse_faults(" seed = 3 , hang_ms=250, webhook_reorder=1 ")
    assert (faults.seed, faults.hang_ms, faults.webhook_reorder) == (3, 250, 1.0)


def test_an_unknown_fault_name_is_refused_naming_the_item():
    with pytest.raises(ValueError, match=r"'error_500=0\.1'.*unknown fault"):
        parse_faults("seed=1,error_500=0.1")


@pytest.mark.parametrize(
    "item",
    [
        "error_5xx=1.5",
        "rate_429=-0.1",
        "rate_429=nan",
        "timeout_after_commit=often",
        "latency_ms=-5",
        "latency_ms=2.5",
        "seed=seven",
        "webhook_drop",
        "webhook_drop=",
    ],
)
def test_a_bad_value_is_refused_naming_the_item(item):
    with pytest.raises(ValueError, match="SANDBOX_FAULTS item") as raised:
        parse_faults(f"seed=1,{item}")
    assert repr(item) in str(raised.value)


def test_a_fault_given_twice_is_refused():
    with pytest.raises(ValueError, match="given twice"):
        parse_faults("error_5xx=0.1,error_5xx=0.2")


def test_the_same_seed_replays_the_same_fault_sequence():
    faults = parse_faults("seed=42,error_5xx=0.5,rate_429=0.5,timeout_after_commit=0.5")
    first, second = FaultInjector(faults), FaultInjector(faults)
    run = [first.draw() for _ in range(50)]
    assert run == [second.draw() for _ in range(50)]
    assert any(any(draw) for draw in run) and not all(all(draw) for draw in run)


def test_zero_probabilities_never_fire():
    injector = FaultInjector(parse_faults("seed=1"))
    assert all(injector.draw() == (False, False, False) for _ in range(100))
