"""Parsing vendor reconciliation files: every good row, and every bad cell by row and column."""

from datetime import UTC, datetime, timedelta, timezone

from ledger.reconciliation.files import (
    COLUMNS,
    FileRecord,
    RowError,
    file_run_id,
    file_window,
    parse_reconciliation_csv,
)

HEADER = ",".join(COLUMNS)
GOOD = "vo_1,gcl-a,fulfilled,25.00,USD,2024-05-01T10:00:00Z,2024-05-01T10:05:00+00:00"


def csv_of(*rows: str, header: str = HEADER, end: str = "\n") -> str:
    return end.join([header, *rows]) + end


def errors_of(*rows: str) -> list[RowError]:
    records, errors = parse_reconciliation_csv(csv_of(*rows))
    assert records == []
    return errors


def test_a_good_row_becomes_a_record_in_minor_units_with_zoned_times():
    records, errors = parse_reconciliation_csv(csv_of(GOOD))
    assert errors == []
    assert records == [
        FileRecord(
            row=2,
            vendor_order_id="vo_1",
            reference="gcl-a",
            status="fulfilled",
            amount_minor=2500,
            currency="USD",
            created_at=datetime(2024, 5, 1, 10, tzinfo=UTC),
            updated_at=datetime(2024, 5, 1, 10, 5, tzinfo=UTC),
        )
    ]


def test_currencies_keep_their_own_exponent():
    rows = [
        "vo_1,r1,pending,500,JPY,2024-05-01T10:00:00+09:00,2024-05-01T10:00:00+09:00",
        "vo_2,r2,pending,1.250,KWD,2024-05-01T10:00:00+03:00,2024-05-01T10:00:00+03:00",
    ]
    records, errors = parse_reconciliation_csv(csv_of(*rows))
    assert errors == [] and [r.amount_minor for r in records] == [500, 1250]
    assert records[0].created_at.utcoffset() == timedelta(hours=9)


def test_a_bom_crlf_line_ends_and_an_upper_case_header_in_another_order_are_accepted():
    header = "\ufeffREFERENCE, Vendor_Order_ID,Status,Amount,Currency,Created_At,Updated_At"
    row = "gcl-a,vo_1,refunded,10.00,EUR,2024-05-01T10:00:00+02:00,2024-05-02T10:00:00+02:00"
    records, errors = parse_reconciliation_csv(csv_of(row, header=header, end="\r\n"))
    assert errors == []
    assert (records[0].vendor_order_id, records[0].reference) == ("vo_1", "gcl-a")


def test_quoted_fields_may_hold_commas_quotes_and_line_breaks_and_count_as_one_row():
    times = "2024-05-01T10:00:00Z,2024-05-01T10:00:00Z"
    quoted = f'"vo,1","gcl ""a""\nsecond line",fulfilled,"1,000.00",USD,{times}'
    records, errors = parse_reconciliation_csv(csv_of(quoted, GOOD.replace("vo_1", "vo_2")))
    # Quoting kept each cell whole: the reference holds a line break (a control character) and
    # "1,000.00" uses digit grouping, so exactly those two cells are refused, both on row 2.
    assert {(e.row, e.column) for e in errors} == {(2, "reference"), (2, "amount")}
    assert [r.row for r in records] == [3]


def test_a_quoted_comma_inside_an_id_is_kept():
    row = '"vo,1",gcl-a,fulfilled,25.00,USD,2024-05-01T10:00:00Z,2024-05-01T10:00:00Z'
    records, errors = parse_reconciliation_csv(csv_of(row))
    assert errors == [] and records[0].vendor_order_id == "vo,1"


def test_blank_lines_and_blank_spreadsheet_rows_are_skipped_but_keep_row_numbers():
    text = csv_of("", GOOD, ",,,,,,", "", GOOD.replace("vo_1", "vo_2"), "")
    records, errors = parse_reconciliation_csv(text)
    assert errors == [] and [r.row for r in records] == [3, 6]


def test_an_empty_file_and_a_file_of_blank_lines_ask_for_the_header():
    for text in ("", "\ufeff", "\n\r\n\n"):
        records, errors = parse_reconciliation_csv(text)
        assert records == [] and len(errors) == 1
        assert errors[0].row == 1 and "header" in errors[0].reason


def test_a_header_alone_is_a_valid_file_with_no_records():
    assert parse_reconciliation_csv(HEADER + "\n") == ([], [])


def test_a_file_window_spans_its_records_half_open():
    later = "vo_2,gcl-b,pending,1.00,USD,2024-05-01T12:00:00Z,2024-05-01T12:00:00Z"
    records, _ = parse_reconciliation_csv(csv_of(later, GOOD))
    now = datetime(2024, 6, 1, tzinfo=UTC)
    start, end = file_window(records, now)
    assert start == datetime(2024, 5, 1, 10, tzinfo=UTC)
    assert datetime(2024, 5, 1, 12, tzinfo=UTC) < end <= datetime(2024, 5, 1, 12, 0, 1, tzinfo=UTC)
    assert file_window([], now) == (now, now)


def test_the_same_file_for_the_same_vendor_is_the_same_run_id():
    text = csv_of(GOOD)
    assert file_run_id("sandbox", text) == file_run_id("sandbox", text)
    assert file_run_id("sandbox", text) != file_run_id("other", text)
    assert file_run_id("sandbox", text) != file_run_id("sandbox", text + "\n")


def test_offsets_other_than_utc_are_kept_exactly():
    row = "vo_1,gcl-a,pending,1.00,USD,2024-05-01T10:00:00-05:30,2024-05-01T10:00:00-05:30"
    records, _ = parse_reconciliation_csv(csv_of(row))
    assert records[0].created_at.tzinfo == timezone(-timedelta(hours=5, minutes=30))
