"""Money: integer minor units, ISO 4217 exponents, and strict parsing of client amounts.

Pure: no I/O, no clock. Amounts are parsed from their exact text with Decimal, never float.
Rules (see docs/decisions-auth-money.md): plain decimal notation only (digits, an optional
'-', an optional '.' with digits on both sides); no whitespace, '+', exponent, digit grouping
or leading zeros; at most as many decimal places as the currency has, counting trailing
zeros ("25.500" USD is refused, Stripe-like: the client says exactly what it means).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from types import MappingProxyType

import msgspec

from ledger.text import END_OF_TEXT

# ISO 4217 List One as published 2026-01-01, grouped by minor-unit exponent. Codes whose
# minor unit is "N.A." (metals XAU/XAG/XPT/XPD, XDR, XSU, XUA, the bond units XBA-XBD, and
# XTS/XXX) are left out: they have no minor unit, so no amount in them can be expressed.
# Withdrawn codes (BGN, HRK, ANG, SLL, ZWL, CUC, VEF) are not accepted for new amounts.
_BY_EXPONENT = {
    0: "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF",
    2: """AED AFN ALL AMD AOA ARS AUD AWG AZN BAM BBD BDT BMD BND BOB BOV BRL BSD BTN BWP BYN
        BZD CAD CDF CHE CHF CHW CNY COP COU CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD
        FKP GBP GEL GHS GIP GMD GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW
        KYD KZT LAK LBP LKR LRD LSL MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR
        MZN NAD NGN NIO NOK NPR NZD PAB PEN PGK PHP PKR PLN QAR RON RSD RUB SAR SBD SCR SDG
        SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TOP TRY TTD TWD TZS UAH USD
        USN UYU UZS VED VES WST XAD XCD XCG YER ZAR ZMW ZWG""",
    3: "BHD IQD JOD KWD LYD OMR TND",
    4: "CLF UYW",
}
CURRENCY_EXPONENTS: Mapping[str, int] = MappingProxyType(
    {code: exp for exp, codes in _BY_EXPONENT.items() for code in codes.split()}
)

_CODE = re.compile(r"[A-Z]{3}")
# The shape of a code where a schema names one (is it known: `exponent`).
CURRENCY_CODE_PATTERN = rf"^[A-Z]{{3}}{END_OF_TEXT}"
_DECIMAL = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?")
# Near misses of that grammar, tried in order, so the client learns exactly what to change.
_MISTAKES = tuple(
    (re.compile(pattern, re.IGNORECASE | re.DOTALL), problem)
    for pattern, problem in (
        (r".*\s.*", "must not contain whitespace"),
        (r"[+-]?(s?nan|inf|infinity)", "must be a finite number"),
        (r"\+.*", "must not start with '+'"),
        (r"-?[0-9.]+e[+-]?[0-9]+", "uses exponent notation; write it out, like 100"),
        (r"-?[0-9]+([,_][0-9]+)+(\.[0-9]+)?", "must use '.' for decimals and no digit grouping"),
        (r"-?\.[0-9]+", "needs a digit before the '.', like 0.5"),
        (r"-?[0-9]+\.", "needs a digit after the '.'"),
        (r"-?0[0-9]+(\.[0-9]+)?", "must not have leading zeros"),
    )
)
# Echoed input is cut to this length: a reason is a sentence, not a copy of the body.
_SHOW_CHARS = 32


class MoneyError(ValueError):
    """An amount or currency a client sent cannot be used; `field` says which one."""

    def __init__(self, reason: str, *, field: str = "amount") -> None:
        super().__init__(reason)
        self.reason, self.field = reason, field


def _show(text: str) -> str:
    return repr(text if len(text) <= _SHOW_CHARS else text[:_SHOW_CHARS] + "…")


def exponent(currency: str) -> int:
    """Minor-unit exponent of an ISO 4217 code: JPY 0, USD 2, KWD 3, CLF 4."""
    if not isinstance(currency, str) or not _CODE.fullmatch(currency):
        raise MoneyError(
            f"unknown currency {_show(str(currency))}: "
            "ISO 4217 codes are three upper-case letters, like USD",
            field="currency",
        )
    try:
        return CURRENCY_EXPONENTS[currency]
    except KeyError:
        raise MoneyError(f"unknown currency {currency!r}", field="currency") from None


def _text_of(raw: bytes | str | int | msgspec.Raw) -> str:
    """The amount's text: a JSON number literal, a JSON string literal, or a plain str/int."""
    if isinstance(raw, bool):
        raise MoneyError("amount must be a number, not a boolean")
    if isinstance(raw, int):
        return str(raw)
    if isinstance(raw, float):
        raise TypeError("money is never a float; pass the exact JSON text (msgspec.Raw)")
    if isinstance(raw, msgspec.Raw | bytes | bytearray | memoryview):
        try:
            raw = bytes(raw).decode("ascii")
        except UnicodeDecodeError:
            raise MoneyError("amount is not a number") from None
    if not isinstance(raw, str):
        raise MoneyError("amount must be a number or a decimal string")
    if raw.startswith('"'):
        try:
            return msgspec.json.decode(raw, type=str)
        except (msgspec.DecodeError, msgspec.ValidationError):
            raise MoneyError("amount is not a number") from None
    return raw


def _check_syntax(text: str) -> None:
    """Refuse every form but plain decimal notation, each with its own reason."""
    if text == "":
        raise MoneyError("amount is empty")
    if _DECIMAL.fullmatch(text):
        return
    for pattern, problem in _MISTAKES:
        if pattern.fullmatch(text):
            raise MoneyError(f"amount {_show(text)} {problem}")
    raise MoneyError(f"amount {_show(text)} is not a number")


def parse_amount(raw: bytes | str | int | msgspec.Raw, currency: str, *, max_minor: int) -> int:
    """A client's amount in major units -> positive integer minor units, at most max_minor.

    `raw` is the exact JSON text of the field (msgspec.Raw or bytes: a number like 25.5 or a
    string like "25.50"), or a plain str or int (CSV cells, query strings). Raises MoneyError.
    """
    if max_minor < 1:
        raise ValueError(f"max_minor must be positive, got {max_minor}")
    exp = exponent(currency)
    text = _text_of(raw)
    _check_syntax(text)
    value = Decimal(text)
    sign, digits, places = value.as_tuple()
    assert isinstance(places, int)  # the grammar admits finite numbers only
    if -places > exp:
        allowed = "no decimal places" if exp == 0 else f"at most {exp} decimal places"
        # "25.500" is refused too: the client's text must mean exactly the amount charged.
        zeros = " (trailing zeros count)" if not any(digits[places + exp :]) else ""
        raise MoneyError(f"{currency} amounts have {allowed}{zeros}; got {_show(text)}")
    if sign or value == 0:
        raise MoneyError(f"amount must be positive; got {_show(text)}")
    limit = f"the maximum of {format_minor(max_minor, currency)} {currency}"
    # Checked on length first so an absurdly long amount never becomes a huge int.
    if len(digits) + places + exp > len(str(max_minor)):
        raise MoneyError(f"amount {_show(text)} {currency} exceeds {limit}")
    minor = int("".join(map(str, digits))) * 10 ** (places + exp)
    if minor > max_minor:
        raise MoneyError(f"amount {_show(text)} {currency} exceeds {limit}")
    return minor


def format_minor(amount_minor: int, currency: str) -> str:
    """Minor units -> exact major-unit decimal text: 2500 USD "25.00", 500 JPY "500"."""
    if isinstance(amount_minor, bool) or not isinstance(amount_minor, int):
        raise TypeError(f"amount_minor must be an int, got {type(amount_minor).__name__}")
    exp = exponent(currency)
    sign = "-" if amount_minor < 0 else ""
    whole, fraction = divmod(abs(amount_minor), 10**exp)
    return f"{sign}{whole}.{fraction:0{exp}d}" if exp else f"{sign}{whole}"
