"""Bulk CSV orders, pure: parse and validate a whole file, derive its keys and batch id.

No I/O, no clock, no random ids: the same bytes give the same rows, errors, keys and batch id,
which is what makes a re-uploaded file replay instead of ordering twice. Rows are numbered as a
spreadsheet shows them: one per CSV record (a quoted cell may span lines), blank ones included,
so `row 7` is the seventh row on screen and the header (unless blank rows precede it) row 1.
"""

from __future__ import annotations

import csv
import hashlib
import io

import msgspec

from ledger.money import MoneyError, parse_amount
from ledger.orders.identifiers import (
    IDEMPOTENCY_KEY_RULE,
    IDENTIFIER_RULE,
    Identifier,
    is_idempotency_key,
)

REQUIRED = ("customer_id", "brand_id", "amount", "currency")
OPTIONAL = ("idempotency_key",)


class RowError(msgspec.Struct, frozen=True):
    """One bad cell (or a bad row when column is None), where a spreadsheet user finds it."""

    row: int
    column: str | None
    reason: str


class BulkRow(msgspec.Struct, frozen=True):
    row: int
    idempotency_key: str
    customer_id: str
    brand_id: str
    amount_minor: int
    currency: str
    # The vendor chosen for its brand (batches.route_rows), before anything is written.
    vendor: str | None = None


class BulkFile(msgspec.Struct, frozen=True):
    file_sha256: str
    rows: int  # data rows: non-blank records after the header
    accepted: tuple[BulkRow, ...]
    errors: tuple[RowError, ...]
    # False when reading stopped early (not UTF-8, broken quoting): the rest is unknown, so
    # even partial=true must not order the rows before the break.
    readable: bool = True

    def acceptable(self, partial: bool) -> bool:
        """Whole files only, unless the caller asked for the valid rows of a partial one."""
        return self.readable and bool(self.accepted) and (partial or not self.errors)


class BulkLimitExceeded(ValueError):
    """The file is over a configured limit; nothing in it was validated further."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code, self.detail = code, detail


def derive_key(file_sha256: str, row: int) -> str:
    """A row's idempotency key when it brings none: the same file and row give the same key."""
    return f"bulk-{file_sha256}-{row}"


def batch_id(client_id: str, file_sha256: str) -> str:
    """Per client: two clients uploading the same bytes are two batches."""
    # JSON-encoding the pair keeps it unambiguous whatever characters the client id holds.
    digest = hashlib.sha256(msgspec.json.encode([client_id, file_sha256])).hexdigest()
    return "bat_" + digest[:32]


def parse_file(data: bytes, *, max_bytes: int, max_rows: int, max_amount_minor: int) -> BulkFile:
    """Every row validated, every bad one reported; raises BulkLimitExceeded over a limit."""
    if len(data) > max_bytes:
        raise BulkLimitExceeded(
            "file_too_large", f"the file is {len(data):,} bytes; the limit is {max_bytes:,}"
        )
    sha = hashlib.sha256(data).hexdigest()
    try:
        text = data.decode("utf-8-sig")  # -sig: Excel's "CSV UTF-8" starts with a BOM
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        reason = f"is not UTF-8 text (byte {exc.start}); save it as CSV UTF-8"
        return BulkFile(sha, 0, (), (RowError(line, None, reason),), readable=False)
    accepted: list[BulkRow] = []
    errors: list[RowError] = []
    columns: list[str] | None = None
    seen_keys: dict[str, int] = {}
    count = number = header_row = 0
    # newline="" lets the csv module see CRLF and newlines inside quoted cells itself;
    # strict makes a stray or unterminated quote an error rather than a silently odd cell.
    records = csv.reader(io.StringIO(text, newline=""), strict=True)
    while True:
        number += 1
        try:
            cells = [cell.strip() for cell in next(records)]
        except StopIteration:
            break
        except csv.Error as exc:
            error = RowError(number, None, f"is not valid CSV ({exc}); nothing after it was read")
            return BulkFile(sha, count, tuple(accepted), (*errors, error), readable=False)
        if not any(cells):
            continue  # blank lines, and the ",,," rows spreadsheets export for them
        if columns is None:
            header_row = number
            if len(cells) == 1 and (delimiter := _other_delimiter(cells[0])) is not None:
                reason = (
                    f"is separated by {delimiter}, not commas; save it as CSV (comma delimited)"
                )
                return BulkFile(sha, 0, (), (RowError(number, None, reason),))
            columns, header_errors = _header(cells, number)
            if header_errors:
                return BulkFile(sha, 0, (), tuple(header_errors))
            continue
        count += 1
        if count > max_rows:
            raise BulkLimitExceeded(
                "too_many_rows", f"the file has more than {max_rows:,} rows; split it"
            )
        row = _row(number, columns, cells, sha, seen_keys, max_amount_minor)
        if isinstance(row, BulkRow):
            accepted.append(row)
        else:
            errors.extend(row)
    if columns is None:
        errors.append(RowError(1, None, "the file is empty; the first row must be the header"))
    elif count == 0:
        errors.append(RowError(header_row, None, "the file has a header but no order rows"))
    return BulkFile(sha, count, tuple(accepted), tuple(errors))


# What a spreadsheet saves "CSV" with in other locales, or as "text": a header that is one
# cell holding one of these was not comma-separated.
_OTHER_DELIMITERS = {";": "semicolons (European Excel)", "\t": "tabs", "|": "pipes"}


def _other_delimiter(cell: str) -> str | None:
    return next((name for mark, name in _OTHER_DELIMITERS.items() if mark in cell), None)


def _header(cells: list[str], number: int) -> tuple[list[str], list[RowError]]:
    names = [cell.lower() for cell in cells]
    errors = []
    for position, name in enumerate(names):
        if name and name not in REQUIRED + OPTIONAL:
            expected = ", ".join(REQUIRED) + " and optionally " + OPTIONAL[0]
            errors.append(RowError(number, cells[position], f"unknown column; expected {expected}"))
        elif name and name in names[:position]:
            errors.append(RowError(number, name, "column appears twice"))
    missing = [name for name in REQUIRED if name not in names]
    errors += [RowError(number, name, "required column is missing") for name in missing]
    return names, errors


def _row(
    number: int,
    columns: list[str],
    cells: list[str],
    sha: str,
    seen_keys: dict[str, int],
    max_amount_minor: int,
) -> BulkRow | list[RowError]:
    # Spreadsheets export blank columns as empty header cells and trailing commas, and a
    # hand-written row may stop early: a missing cell reads as blank, and only a value that
    # belongs to no named column is an error (it would otherwise be silently dropped).
    cells = cells + [""] * (len(columns) - len(cells))
    stray = [
        position + 1
        for position, cell in enumerate(cells)
        if cell and (position >= len(columns) or not columns[position])
    ]
    # One error per row, however many cells: a row of commas must not become a huge answer.
    errors = [_stray_cells(number, stray)] if stray else []
    values = {name: cell for name, cell in zip(columns, cells, strict=False) if name}
    errors += [RowError(number, name, "is empty") for name in REQUIRED if not values[name]]
    errors += [
        RowError(number, name, IDENTIFIER_RULE)
        for name in ("customer_id", "brand_id")
        if values[name] and not _is_identifier(values[name])
    ]
    amount_minor = 0
    if values["amount"] and values["currency"]:
        try:
            amount_minor = parse_amount(
                values["amount"], values["currency"], max_minor=max_amount_minor
            )
        except MoneyError as exc:
            errors.append(RowError(number, exc.field, exc.reason))
    key = values.get("idempotency_key") or derive_key(sha, number)
    if not is_idempotency_key(key):
        errors.append(RowError(number, "idempotency_key", IDEMPOTENCY_KEY_RULE))
    else:
        if key in seen_keys:
            reason = f"repeats the idempotency_key of row {seen_keys[key]}"
            errors.append(RowError(number, "idempotency_key", reason))
        seen_keys.setdefault(key, number)
    customer, brand, currency = values["customer_id"], values["brand_id"], values["currency"]
    return errors or BulkRow(number, key, customer, brand, amount_minor, currency)


def _stray_cells(number: int, positions: list[int]) -> RowError:
    if len(positions) == 1:
        return RowError(number, None, f"cell {positions[0]} has a value but no column header")
    reason = f"{len(positions)} cells have values but no column header (from cell {positions[0]})"
    return RowError(number, None, reason)


def _is_identifier(value: str) -> bool:
    try:
        msgspec.convert(value, Identifier)
    except msgspec.ValidationError:
        return False
    return True
