"""Money: exponents per currency, strict amount parsing with a reason per refusal, exact text."""

import random

import msgspec
import pytest

from ledger.money import CURRENCY_EXPONENTS, MoneyError, exponent, format_minor, parse_amount

MAX = 1_000_000_00  # the service default: one million major units of a 2-decimal currency


@pytest.mark.parametrize(
    ("currency", "expected"),
    [
        *[(code, 0) for code in ("JPY", "KRW", "CLP", "ISK", "VND", "XAF")],
        *[(code, 2) for code in ("USD", "EUR", "GBP")],
        *[(code, 3) for code in ("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND")],
        *[(code, 4) for code in ("CLF", "UYW")],
    ],
)
def test_each_currency_has_its_iso_4217_exponent(currency, expected):
    assert exponent(currency) == expected


def test_the_table_holds_only_three_letter_codes_with_a_known_exponent():
    assert len(CURRENCY_EXPONENTS) > 150
    assert all(len(c) == 3 and c.isalpha() and c.isupper() for c in CURRENCY_EXPONENTS)
    assert set(CURRENCY_EXPONENTS.values()) == {0, 2, 3, 4}


@pytest.mark.parametrize("code", ["XAU", "XAG", "XDR", "XTS", "XXX", "BGN", "HRK", "ANG"])
def test_codes_without_a_minor_unit_and_withdrawn_codes_are_unknown(code):
    with pytest.raises(MoneyError, match=f"unknown currency '{code}'") as caught:
        exponent(code)
    assert caught.value.field == "currency"


@pytest.mark.parametrize("code", ["usd", "Usd", "US", "USDD", "", "U1D", " USD"])
def test_a_malformed_currency_code_is_unknown_and_says_what_a_code_looks_like(code):
    with pytest.raises(MoneyError, match=r"unknown currency .*three upper-case letters"):
        exponent(code)


def test_the_exponent_table_cannot_be_changed_at_run_time():
    with pytest.raises(TypeError):
        CURRENCY_EXPONENTS["USD"] = 3  # type: ignore[index]


@pytest.mark.parametrize(
    ("raw", "currency", "minor"),
    [
        ("500", "JPY", 500),
        (b"500", "JPY", 500),
        (b'"500"', "JPY", 500),
        (500, "JPY", 500),
        ("25", "USD", 2500),
        ("25.5", "USD", 2550),
        ("25.50", "USD", 2550),
        (b"25.5", "USD", 2550),
        (b'"25.50"', "USD", 2550),
        ('"25.50"', "USD", 2550),
        (msgspec.Raw(b"0.01"), "USD", 1),
        (25, "USD", 2500),
        ("1.234", "KWD", 1234),
        ("0.001", "KWD", 1),
        ("7", "KWD", 7000),
        ("1.2345", "CLF", 12345),
        ("0.0001", "CLF", 1),
        ("1000000.00", "USD", MAX),
        ("1000000", "USD", MAX),
    ],
)
def test_an_amount_in_major_units_becomes_exact_minor_units(raw, currency, minor):
    assert parse_amount(raw, currency, max_minor=MAX) == minor


def test_an_amount_is_read_from_the_exact_text_of_a_decoded_json_body():
    class Body(msgspec.Struct):
        amount: msgspec.Raw

    number = msgspec.json.decode(b'{"amount": 19.99}', type=Body)
    string = msgspec.json.decode(b'{"amount": "19.99"}', type=Body)
    assert parse_amount(number.amount, "USD", max_minor=MAX) == 1999
    assert parse_amount(string.amount, "USD", max_minor=MAX) == 1999


# Reason fragment -> USD inputs refused for it; every form is listed in the docstring rules.
REFUSED_IN_USD = {
    "amount is empty": ["", b'""'],
    "must not contain whitespace": [" 25", "25 ", "2 5", "25\n"],
    "must not start with '+'": ["+25"],
    "needs a digit after the '.'": ["25."],
    "needs a digit before the '.', like 0.5": [".5", "-.5"],
    "must not have leading zeros": ["025", "00.50"],
    "uses exponent notation": ["1e2", b"1e2", "2.5E1", "1e-2", "1e999999999"],
    "must use '.' for decimals and no digit grouping": ["1,000.00", "25,50", "1_000"],
    "must be a finite number": ["NaN", "nan", "Infinity", "-Infinity", "inf", "sNaN"],
    # Full-width and Arabic-Indic digits are refused although Decimal would accept them.
    "is not a number": ["abc", "1.2.3", "0x10", "\uff12\uff15", "\u0662\u0665", b"true", b"null"],
    "amount is not a number": [b'"25.50', b"\xff"],
    "amount must be positive": ["0", "0.00", "-0", "-5", -5, b"-0.01"],
    "exceeds the maximum of 1000000.00 USD": ["1000000.01", "9" * 5000],
    "must be a number, not a boolean": [True],
    "must be a number or a decimal string": [None],
}


@pytest.mark.parametrize(
    ("raw", "currency", "reason"),
    [(raw, "USD", reason) for reason, raws in REFUSED_IN_USD.items() for raw in raws]
    + [
        ("1.234", "USD", "USD amounts have at most 2 decimal places; got '1.234'"),
        ("25.500", "USD", "at most 2 decimal places (trailing zeros count)"),
        ("1.5", "JPY", "JPY amounts have no decimal places; got '1.5'"),
        ("1.0", "JPY", "JPY amounts have no decimal places (trailing zeros count)"),
        ("1.2345", "KWD", "KWD amounts have at most 3 decimal places"),
        ("1.23456", "CLF", "CLF amounts have at most 4 decimal places"),
        ("0", "USD", "amount must be positive; got '0'"),
        ("100000001", "JPY", "exceeds the maximum of 100000000 JPY"),
        ("25", "XYZ", "unknown currency 'XYZ'"),
        ("25", "usd", "unknown currency 'usd'"),
    ],
)
def test_each_refusal_gives_its_precise_reason(raw, currency, reason):
    with pytest.raises(MoneyError) as caught:
        parse_amount(raw, currency, max_minor=MAX)
    assert reason in caught.value.reason
    assert str(caught.value) == caught.value.reason


def test_a_refusal_names_the_field_it_is_about():
    with pytest.raises(MoneyError) as amount:
        parse_amount("1.234", "USD", max_minor=MAX)
    with pytest.raises(MoneyError) as currency:
        parse_amount("1.23", "XYZ", max_minor=MAX)
    assert (amount.value.field, currency.value.field) == ("amount", "currency")


def test_a_long_refused_amount_is_not_echoed_whole():
    with pytest.raises(MoneyError) as caught:
        parse_amount("x" * 10_000, "USD", max_minor=MAX)
    assert len(caught.value.reason) < 100


def test_a_float_is_a_programming_error_not_a_client_error():
    with pytest.raises(TypeError, match="never a float"):
        parse_amount(25.5, "USD", max_minor=MAX)  # type: ignore[arg-type]


def test_a_non_positive_maximum_is_a_programming_error():
    with pytest.raises(ValueError, match="max_minor must be positive"):
        parse_amount("1", "USD", max_minor=0)


@pytest.mark.parametrize(
    ("minor", "currency", "text"),
    [
        (2500, "USD", "25.00"),
        (2550, "USD", "25.50"),
        (1, "USD", "0.01"),
        (0, "USD", "0.00"),
        (-5, "USD", "-0.05"),
        (-2500, "USD", "-25.00"),
        (500, "JPY", "500"),
        (-500, "JPY", "-500"),
        (1234, "KWD", "1.234"),
        (5, "KWD", "0.005"),
        (12345, "CLF", "1.2345"),
        (10**30 + 1, "USD", "10000000000000000000000000000.01"),
    ],
)
def test_minor_units_format_as_exact_major_unit_text(minor, currency, text):
    assert format_minor(minor, currency) == text


@pytest.mark.parametrize("bad", [25.0, True, "2500"])
def test_formatting_refuses_anything_but_an_int(bad):
    with pytest.raises(TypeError, match="must be an int"):
        format_minor(bad, "USD")


def test_formatting_refuses_an_unknown_currency():
    with pytest.raises(MoneyError, match="unknown currency 'XYZ'"):
        format_minor(100, "XYZ")


@pytest.mark.parametrize("currency", sorted(CURRENCY_EXPONENTS))
def test_parsing_the_formatted_text_gives_back_the_same_minor_units(currency):
    rng = random.Random(f"money-round-trip-{currency}")
    limit = 10**12
    edges = [1, 9, 10, 11, 99, 100, 101, 10**6, limit - 1, limit]
    values = edges + [rng.randint(1, limit) for _ in range(300)]
    values += [rng.randint(1, 10 ** rng.randint(1, 12)) for _ in range(300)]
    for minor in values:
        text = format_minor(minor, currency)
        assert parse_amount(text, currency, max_minor=limit) == minor
        assert parse_amount(text.encode(), currency, max_minor=limit) == minor
        assert parse_amount(msgspec.json.encode(text), currency, max_minor=limit) == minor
