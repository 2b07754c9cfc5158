"""Bad vendor files: every bad cell named by spreadsheet row and column, nothing half-read."""

import pytest

from ledger.reconciliation.files import RowError, parse_reconciliation_csv
from tests.unit.reconciliation.test_file_format import GOOD, HEADER, csv_of, errors_of


@pytest.mark.parametrize(
    ("header", "column", "reason"),
    [
        (HEADER.replace(",currency", ""), "currency", "missing column"),
        (HEADER + ",note", "note", "unknown column"),
        (HEADER + ",Status", "status", "more than once"),
    ],
)
def test_a_bad_header_names_the_column_and_stops_before_the_rows(header, column, reason):
    records, errors = parse_reconciliation_csv(csv_of(GOOD, header=header))
    assert records == []
    assert [(e.row, e.column) for e in errors] == [(1, column)]
    assert reason in errors[0].reason


def test_a_row_with_the_wrong_number_of_fields_is_refused_as_a_whole():
    errors = errors_of("vo_1,gcl-a,fulfilled", GOOD + ",extra")
    assert [(e.row, e.column) for e in errors] == [(2, "*"), (3, "*")]
    assert "3 fields; the header has 7" in errors[0].reason


BAD_CELLS = [
    ("", "vendor_order_id", "is empty"),
    (" vo_1", "vendor_order_id", "whitespace"),
    ("vo_" + "x" * 300, "vendor_order_id", "longer than 255"),
    ("vo\x07", "vendor_order_id", "control characters"),
]


@pytest.mark.parametrize(("value", "column", "reason"), BAD_CELLS)
def test_a_bad_identifier_is_named(value, column, reason):
    errors = errors_of(GOOD.replace("vo_1", value, 1))
    assert [(e.row, e.column) for e in errors] == [(2, column)] and reason in errors[0].reason


def test_an_empty_reference_is_refused():
    errors = errors_of(GOOD.replace("gcl-a", ""))
    assert [(e.column, e.reason) for e in errors] == [("reference", "reference is empty")]


@pytest.mark.parametrize("status", ["FULFILLED", "settled", "", "not_found"])
def test_a_status_outside_the_four_gl_states_is_refused(status):
    errors = errors_of(GOOD.replace("fulfilled", status))
    assert [e.column for e in errors] == ["status"]
    assert "pending, fulfilled, failed, refunded" in errors[0].reason


@pytest.mark.parametrize(
    ("amount", "reason"),
    [
        ("25.001", "at most 2 decimal places"),
        ("-5.00", "positive"),
        ("0", "positive"),
        ("abc", "not a number"),
        ("", "empty"),
        ("1e3", "exponent"),
        (" 25.00", "whitespace"),
    ],
)
def test_a_bad_amount_is_refused_with_the_money_reason(amount, reason):
    errors = errors_of(GOOD.replace("25.00", amount))
    assert [e.column for e in errors] == ["amount"] and reason in errors[0].reason


@pytest.mark.parametrize("currency", ["usd", "XXX", "", "US"])
def test_an_unknown_currency_names_the_currency_column(currency):
    errors = errors_of(GOOD.replace("USD", currency))
    assert [e.column for e in errors] == ["currency"]


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("2024-05-01T10:00:00", "needs a UTC offset"),
        ("2024-05-01", "needs a UTC offset"),
        ("yesterday", "not an ISO 8601 timestamp"),
        ("2024-13-01T10:00:00Z", "not an ISO 8601 timestamp"),
        # .NET's DateTimeOffset.MinValue in a local zone: no UTC moment, so the driver could
        # not store it, and the log would hold an event every projection stalls on.
        ("0001-01-01T00:00:00+01:00", "outside the years 1970 to 2199"),
        ("9999-12-31T23:59:59.999999Z", "outside the years 1970 to 2199"),
        ("1900-01-01T00:00:00Z", "outside the years 1970 to 2199"),
    ],
)
def test_a_timestamp_must_be_iso_8601_with_an_offset(value, reason):
    errors = errors_of(GOOD.replace("2024-05-01T10:00:00Z", value))
    assert [e.column for e in errors] == ["created_at"] and reason in errors[0].reason


def test_an_update_before_creation_is_refused_on_updated_at():
    row = "vo_1,gcl-a,fulfilled,25.00,USD,2024-05-01T10:00:00Z,2024-05-01T09:59:59Z"
    errors = errors_of(row)
    assert [(e.column, e.reason) for e in errors] == [("updated_at", "is before created_at")]


def test_every_bad_cell_of_a_row_is_reported_not_just_the_first():
    row = ",,settled,x,USD,then,now"
    columns = {e.column for e in errors_of(row)}
    assert columns == {
        "vendor_order_id",
        "reference",
        "status",
        "amount",
        "created_at",
        "updated_at",
    }


def test_a_vendor_order_listed_twice_names_the_first_row():
    records, errors = parse_reconciliation_csv(csv_of(GOOD, GOOD))
    assert [r.row for r in records] == [2]
    assert errors == [RowError(3, "vendor_order_id", "repeats row 2")]


@pytest.mark.parametrize("bad", ['"vo_2,gcl-b', '"vo_2"x,gcl-b'])
def test_a_stray_or_unterminated_quote_is_reported_as_unreadable_not_raised(bad):
    records, errors = parse_reconciliation_csv(csv_of(GOOD, "", bad))
    assert [r.row for r in records] == [2]
    assert [(e.row, e.column) for e in errors] == [(4, "*")]
    assert errors[0].reason.startswith("unreadable CSV")
