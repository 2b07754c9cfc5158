"""Vendor reconciliation files: strict CSV parsing. Pure: text in, records and errors out.

Header `vendor_order_id,reference,status,amount,currency,created_at,updated_at` in any order and
case; amounts in major units (ledger.money rules); timestamps ISO 8601 with an offset. A BOM,
CRLF line ends, quoted fields and blank lines are fine. Rows are numbered as a spreadsheet shows
them (header is row 1). Every bad cell is reported, so a vendor fixes the file in one pass.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime

import msgspec

from ledger.money import MoneyError, parse_amount
from ledger.text import moment_problem

COLUMNS = (
    "vendor_order_id",
    "reference",
    "status",
    "amount",
    "currency",
    "created_at",
    "updated_at",
)
STATUSES = ("pending", "fulfilled", "failed", "refunded")
# Vendor records are facts to compare, not requests to cap like an order's amount; this bound
# only refuses garbage (a card number pasted into the amount column) and keeps ints in bigint.
MAX_RECORD_MINOR = 10**15
# Ids longer than this are a shifted column or pasted text, not a vendor's id or our reference.
MAX_ID_LENGTH = 255
# Echoed cell values are cut to this length: a reason is a sentence, not a copy of the file.
_SHOW_CHARS = 32


class FileRecord(msgspec.Struct, frozen=True, kw_only=True):
    row: int
    vendor_order_id: str
    reference: str
    status: str
    amount_minor: int
    currency: str
    created_at: datetime
    updated_at: datetime


class RowError(msgspec.Struct, frozen=True):
    row: int
    column: str  # "*" when the row as a whole is wrong
    reason: str


def _show(value: str) -> str:
    return repr(value if len(value) <= _SHOW_CHARS else value[:_SHOW_CHARS] + "…")


def _header(cells: list[str], row: int) -> tuple[dict[str, int], list[RowError]]:
    names = [c.strip().lower() for c in cells]
    errors = [
        RowError(row, cell, f"unknown column {_show(cell)}; expected {', '.join(COLUMNS)}")
        for cell, name in zip(cells, names, strict=True)
        if name not in COLUMNS
    ]
    errors += [
        RowError(row, name, "column appears more than once")
        for name in COLUMNS
        if names.count(name) > 1
    ]
    errors += [RowError(row, name, "missing column") for name in COLUMNS if name not in names]
    return {name: names.index(name) for name in COLUMNS if name in names}, errors


def _identifier(value: str) -> str | None:
    if not value:
        return "is empty"
    if value != value.strip():
        return f"{_show(value)} has leading or trailing whitespace"
    if len(value) > MAX_ID_LENGTH:
        return f"is longer than {MAX_ID_LENGTH} characters"
    if not value.isprintable():
        return f"{_show(value)} contains control characters"
    return None


def _timestamp(value: str) -> tuple[datetime | None, str | None]:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None, f"{_show(value)} is not an ISO 8601 timestamp"
    if (problem := moment_problem(moment)) is not None:
        return None, f"{_show(value)} {problem}"
    return moment, None


def _record(cells: dict[str, str], row: int, max_minor: int) -> FileRecord | list[RowError]:
    errors = []
    for column in ("vendor_order_id", "reference"):
        if (problem := _identifier(cells[column])) is not None:
            errors.append(RowError(row, column, f"{column} {problem}"))
    if cells["status"] not in STATUSES:
        reason = f"{_show(cells['status'])} is not one of {', '.join(STATUSES)}"
        errors.append(RowError(row, "status", reason))
    amount_minor = 0
    try:
        amount_minor = parse_amount(cells["amount"], cells["currency"], max_minor=max_minor)
    except MoneyError as exc:
        errors.append(RowError(row, exc.field, exc.reason))
    created, problem = _timestamp(cells["created_at"])
    if problem:
        errors.append(RowError(row, "created_at", problem))
    updated, problem = _timestamp(cells["updated_at"])
    if problem:
        errors.append(RowError(row, "updated_at", problem))
    elif created is not None and updated is not None and updated < created:
        errors.append(RowError(row, "updated_at", "is before created_at"))
    if errors or created is None or updated is None:
        return errors
    return FileRecord(
        row=row,
        vendor_order_id=cells["vendor_order_id"],
        reference=cells["reference"],
        status=cells["status"],
        amount_minor=amount_minor,
        currency=cells["currency"],
        created_at=created,
        updated_at=updated,
    )


def parse_reconciliation_csv(
    text: str, *, max_minor: int = MAX_RECORD_MINOR
) -> tuple[list[FileRecord], list[RowError]]:
    """Every good record and every bad cell; the file is usable only when errors is empty."""
    # strict: a stray or unterminated quote is an error, not a silently merged cell.
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline=""), strict=True)
    records: list[FileRecord] = []
    errors: list[RowError] = []
    columns: dict[str, int] | None = None
    first_row: dict[str, int] = {}
    row = 0
    try:
        for row, cells in enumerate(reader, start=1):
            if not any(c.strip() for c in cells):
                continue  # a blank line, or a spreadsheet's trailing ",,,,,,"
            if columns is None:
                columns, header_errors = _header(cells, row)
                if header_errors:
                    return [], header_errors
                continue
            if len(cells) != len(columns):
                reason = f"has {len(cells)} fields; the header has {len(columns)}"
                errors.append(RowError(row, "*", reason))
                continue
            parsed = _record({c: cells[i] for c, i in columns.items()}, row, max_minor)
            if isinstance(parsed, list):
                errors.extend(parsed)
                continue
            if (first := first_row.setdefault(parsed.vendor_order_id, row)) != row:
                errors.append(RowError(row, "vendor_order_id", f"repeats row {first}"))
                continue
            records.append(parsed)
    except csv.Error as exc:
        # The reader failed on the record after the last one it returned.
        errors.append(RowError(row + 1, "*", f"unreadable CSV: {exc}"))
    if columns is None and not errors:
        errors.append(
            RowError(1, "*", f"the file is empty; expected a header: {','.join(COLUMNS)}")
        )
    return records, errors
