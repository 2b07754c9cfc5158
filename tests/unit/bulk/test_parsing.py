"""Bulk CSV parsing and validation: pure, so every edge case is a plain function call."""

import hashlib

import pytest

from ledger.bulk.parsing import BulkLimitExceeded, RowError, batch_id, derive_key, parse_file

HEADER = b"customer_id,brand_id,amount,currency\n"


def parse(data: bytes, *, max_rows: int = 100, max_bytes: int = 1_000_000):
    return parse_file(data, max_bytes=max_bytes, max_rows=max_rows, max_amount_minor=1_000_00)


def test_a_plain_file_becomes_one_order_row_per_line_in_minor_units():
    parsed = parse(HEADER + b"cust-1,amazon-us,25.00,USD\ncust-2,itunes,500,JPY\n")
    assert parsed.errors == () and parsed.rows == 2
    assert [(r.row, r.customer_id, r.amount_minor, r.currency) for r in parsed.accepted] == [
        (2, "cust-1", 2500, "USD"),
        (3, "cust-2", 500, "JPY"),
    ]
    assert parsed.acceptable(partial=False)


def test_a_utf8_bom_from_excel_is_not_part_of_the_first_column_name():
    parsed = parse(b"\xef\xbb\xbf" + HEADER + b"cust-1,amazon-us,25.00,USD\n")
    assert parsed.errors == () and parsed.accepted[0].customer_id == "cust-1"


def test_crlf_line_endings_read_the_same_as_lf_ones():
    lf = parse(HEADER + b"cust-1,amazon-us,25.00,USD\n")
    crlf = parse(HEADER.replace(b"\n", b"\r\n") + b"cust-1,amazon-us,25.00,USD\r\n")
    assert [r.customer_id for r in crlf.accepted] == [r.customer_id for r in lf.accepted]
    assert crlf.accepted[0].currency == "USD"  # no stray \r on the last cell


def test_a_quoted_cell_keeps_its_commas_and_quotes():
    parsed = parse(HEADER + b'"Smith, Jane ""JJ""",amazon-us,25.00,USD\n')
    assert parsed.accepted[0].customer_id == 'Smith, Jane "JJ"'


def test_empty_lines_and_blank_spreadsheet_rows_are_skipped_but_still_numbered():
    parsed = parse(HEADER + b"\n,,,\n  \ncust-1,amazon-us,25.00,USD\n\n")
    assert parsed.rows == 1 and parsed.errors == ()
    assert parsed.accepted[0].row == 5  # the row a spreadsheet shows it on


def test_the_header_is_matched_whatever_its_case_and_order_and_surrounding_spaces():
    parsed = parse(b" Currency ,AMOUNT,Brand_Id,customer_ID\nUSD,25.00,amazon-us,cust-1\n")
    assert parsed.errors == ()
    assert (parsed.accepted[0].customer_id, parsed.accepted[0].amount_minor) == ("cust-1", 2500)


def test_a_quoted_cell_spanning_lines_is_one_spreadsheet_row():
    parsed = parse(HEADER + b'"cust\n1",amazon-us,25.00,USD\ncust-2,amazon-us,1,EUR\n')
    # The line break is a control character, which ids may not hold; the next row is still 3.
    assert [(e.row, e.column) for e in parsed.errors] == [(2, "customer_id")]
    assert [r.row for r in parsed.accepted] == [3]


def test_cells_are_trimmed_because_a_spreadsheet_never_shows_surrounding_spaces():
    parsed = parse(HEADER + b"cust-1 , amazon-us, 25.00 ,USD \n")
    assert parsed.errors == () and parsed.accepted[0].brand_id == "amazon-us"


def test_every_bad_row_is_reported_with_its_spreadsheet_row_column_and_reason():
    body = (
        b"cust-1,amazon-us,25.00,USD\n"
        b",amazon-us,25.00,USD\n"
        b"cust-3,amazon-us,25.001,USD\n"
        b"cust-4,amazon-us,10,usd\n"
        b"cust-5,amazon-us,-1,USD\n"
        b"cust-6,amazon-us,1000.01,USD\n"
        b'cust-7,amazon-us,"1,000",USD\n'
        b"cust-8,amazon-us,1.5,JPY\n"
    )
    parsed = parse(HEADER + body)
    assert [(e.row, e.column) for e in parsed.errors] == [
        (3, "customer_id"),
        (4, "amount"),
        (5, "currency"),
        (6, "amount"),
        (7, "amount"),
        (8, "amount"),
        (9, "amount"),
    ]
    assert parsed.errors[0].reason == "is empty"
    assert "at most 2 decimal places" in parsed.errors[1].reason
    assert "exceeds the maximum" in parsed.errors[4].reason
    assert [r.row for r in parsed.accepted] == [2]
    assert not parsed.acceptable(partial=False) and parsed.acceptable(partial=True)


def test_a_row_with_several_bad_cells_reports_each_of_them():
    parsed = parse(HEADER + b",\x07brand,abc,USD\n")
    assert [(e.row, e.column) for e in parsed.errors] == [
        (2, "customer_id"),
        (2, "brand_id"),
        (2, "amount"),
    ]


def test_a_value_outside_the_named_columns_is_an_error_and_missing_trailing_cells_are_blank():
    parsed = parse(HEADER + b"cust-1,amazon-us,25.00,USD,surprise\ncust-2,amazon-us,25.00\n")
    assert parsed.errors == (
        RowError(2, None, "cell 5 has a value but no column header"),
        RowError(3, "currency", "is empty"),
    )


def test_header_problems_are_reported_on_row_one_and_no_row_is_read():
    parsed = parse(b"customer_id,brand,amount,amount\ncust-1,amazon-us,25.00,USD\n")
    assert {(e.row, e.column) for e in parsed.errors} == {
        (1, "brand"),
        (1, "amount"),
        (1, "brand_id"),
        (1, "currency"),
    }
    assert parsed.accepted == () and not parsed.acceptable(partial=True)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "the file is empty; the first row must be the header"),
        (b"\n\n", "the file is empty; the first row must be the header"),
        (HEADER, "the file has a header but no order rows"),
    ],
)
def test_a_file_without_order_rows_is_refused_even_when_partial(data, reason):
    parsed = parse(data)
    assert [e.reason for e in parsed.errors] == [reason]
    assert not parsed.acceptable(partial=True)


def test_a_file_that_is_not_utf8_is_refused_naming_the_line_of_the_first_bad_byte():
    parsed = parse(HEADER + b"cust-1,amazon-us,25.00,USD\ncaf\xe9,amazon-us,1,USD\n")
    assert parsed.errors[0].row == 3 and "not UTF-8" in parsed.errors[0].reason
    assert not parsed.acceptable(partial=True)


def test_broken_quoting_stops_reading_and_refuses_the_file_even_when_partial():
    parsed = parse(HEADER + b'cust-1,amazon-us,25.00,USD\n"cust-2"x,amazon-us,1,USD\n')
    assert parsed.errors[-1].row == 3 and "not valid CSV" in parsed.errors[-1].reason
    assert len(parsed.accepted) == 1 and not parsed.acceptable(partial=True)


def test_an_unterminated_quote_is_broken_quoting_not_one_giant_cell():
    parsed = parse(HEADER + b'"cust-1,amazon-us,25.00,USD\ncust-2,amazon-us,1,USD\n')
    assert not parsed.readable and not parsed.acceptable(partial=True)


def test_a_missing_idempotency_key_is_derived_from_the_file_digest_and_row_number():
    data = HEADER + b"cust-1,amazon-us,25.00,USD\n\ncust-1,amazon-us,25.00,USD\n"
    parsed = parse(data)
    digest = hashlib.sha256(data).hexdigest()
    assert parsed.file_sha256 == digest
    assert [r.idempotency_key for r in parsed.accepted] == [
        derive_key(digest, 2),
        derive_key(digest, 4),
    ]
    assert parse(data).accepted == parsed.accepted  # the same bytes, the same keys


def test_another_file_derives_other_keys_even_for_identical_rows():
    first = parse(HEADER + b"cust-1,amazon-us,25.00,USD\n")
    second = parse(HEADER + b"cust-1,amazon-us,25.00,USD\r\n")
    assert first.accepted[0].idempotency_key != second.accepted[0].idempotency_key


def test_an_idempotency_key_column_is_used_and_a_blank_cell_falls_back_to_a_derived_key():
    data = b"idempotency_key," + HEADER + b"camp-0001,c,b,1,USD\n,c,b,1,USD\n"
    parsed = parse(data)
    keys = [r.idempotency_key for r in parsed.accepted]
    assert keys == ["camp-0001", derive_key(parsed.file_sha256, 3)]


def test_idempotency_keys_follow_the_api_rules_and_may_not_repeat_within_a_file():
    data = (
        b"idempotency_key,"
        + HEADER
        + b"short,c,b,1,USD\ncamp-0001,c,b,1,USD\ncamp-0001,c,b,2,USD\n"
    )
    parsed = parse(data)
    assert parsed.errors == (
        RowError(2, "idempotency_key", "idempotency keys are 8 to 255 printable ASCII characters"),
        RowError(4, "idempotency_key", "repeats the idempotency_key of row 3"),
    )


def test_a_file_over_the_byte_limit_is_refused_before_it_is_read():
    with pytest.raises(BulkLimitExceeded) as refused:
        parse(HEADER + b"cust-1,amazon-us,25.00,USD\n", max_bytes=40)
    assert refused.value.code == "file_too_large" and "limit is 40" in refused.value.detail


def test_a_file_over_the_row_limit_is_refused_and_blank_lines_do_not_count():
    rows = b"cust-1,amazon-us,25.00,USD\n\n" * 3
    assert parse(HEADER + rows, max_rows=3).rows == 3
    with pytest.raises(BulkLimitExceeded) as refused:
        parse(HEADER + rows + b"cust-4,amazon-us,1,USD\n", max_rows=3)
    assert refused.value.code == "too_many_rows"


def test_the_batch_id_is_derived_from_the_client_and_the_file_digest():
    assert batch_id("acme", "ab" * 32) == batch_id("acme", "ab" * 32)
    assert batch_id("acme", "ab" * 32) != batch_id("globex", "ab" * 32)
    assert batch_id("acme", "ab" * 32) != batch_id("acme", "cd" * 32)
    assert batch_id("acme", "ab" * 32).startswith("bat_") and len(batch_id("a", "b")) == 36


@pytest.mark.parametrize(
    ("delimiter", "named"),
    [(b";", "semicolons (European Excel)"), (b"\t", "tabs"), (b"|", "pipes")],
)
def test_a_file_in_another_delimiter_gets_one_error_naming_it(delimiter, named):
    data = HEADER.replace(b",", delimiter) + b"cust-1" + delimiter + b"amazon-us;25,00;EUR\n"
    parsed = parse(data)
    (error,) = parsed.errors
    assert error.row == 1 and error.column is None and named in error.reason


def test_cells_beyond_the_header_are_one_error_per_row_however_many_there_are():
    """Each stray cell its own error let 200 KB of commas become 100,000 errors."""
    parsed = parse(HEADER + b"c1,b1,1.00,USD" + b",x" * 10_000 + b"\n")
    assert parsed.errors == (
        RowError(2, None, "10000 cells have values but no column header (from cell 5)"),
    )
