"""A vendor's amount is read exactly, whatever way its JSON wrote the number: trailing zeros
past the currency's exponent (a Java double's "5000.0") and exponent notation ("1.0E7") are
exact amounts; only a value that is not a whole number of minor units cannot be read."""

from __future__ import annotations

from decimal import Decimal

import pytest

from ledger.vendors.base import MAX_VENDOR_MINOR, vendor_amount


@pytest.mark.parametrize(
    ("text", "currency", "minor"),
    [
        ("25", "USD", 2500),
        ("12.50", "USD", 1250),
        ("5000.0", "JPY", 5000),
        ("1.0E+7", "VND", 10_000_000),
        ("1.0E+7", "IDR", 1_000_000_000),
        ("1E+2", "USD", 10_000),
        ("10.000", "USD", 1000),
        ("0.125", "KWD", 125),
        ("2.5E-1", "USD", 25),
    ],
)
def test_an_exact_amount_is_read_however_its_number_was_written(text, currency, minor):
    assert vendor_amount(Decimal(text), currency) == (minor, currency)


@pytest.mark.parametrize(
    ("text", "currency"),
    [
        ("10.005", "USD"),
        ("0.5", "JPY"),
        # Past the default context's 28 digits: a rounding read would call it 1000 cents.
        ("10.0000000000000000000000000000001", "USD"),
        ("0", "USD"),
        ("-5", "USD"),
        ("NaN", "USD"),
        ("Infinity", "USD"),
        ("1E+999999999", "USD"),
        ("25", "XXX"),
    ],
)
def test_an_amount_that_is_not_whole_minor_units_or_out_of_range_is_unreadable(text, currency):
    assert vendor_amount(Decimal(text), currency) is None


def test_the_largest_vendor_amount_is_read_and_one_more_is_not():
    largest = Decimal(MAX_VENDOR_MINOR).scaleb(-2)
    assert vendor_amount(largest, "USD") == (MAX_VENDOR_MINOR, "USD")
    assert vendor_amount(largest + Decimal("0.01"), "USD") is None
