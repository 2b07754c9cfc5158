"""`run.py bulk-upload FILE --client NAME [--partial]`: the bulk use case, in-process.

The same parse, validation and submit_batch as POST /api/v1/bulk-orders, against DATABASE_URL
(or the embedded database). Rows are recorded as pending orders; the service's completer sends
them to the vendor. Bad rows print as `row N, column C: reason`. Exit 0 when every accepted row
is an order, 1 when the file is refused or some row could not be ordered, 2 on bad usage.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path

from ledger.bulk.batches import BatchOutcome, route_rows, submit_batch
from ledger.bulk.parsing import BulkFile, BulkLimitExceeded, RowError, parse_file
from ledger.cli.database import database_urls
from ledger.cli.output import add_json_flag, emit
from ledger.cli.progress import terminal_bar
from ledger.config import Settings
from ledger.db import create_pool
from ledger.log.leases import OrderLeases
from ledger.orders.fulfilment import Fulfilment
from ledger.orders.intake import Intake
from ledger.orders.vault import CardVault, load_or_create_key
from ledger.vendors.registry import vendor_setup
from ledger.vendors.routing import Router

EXIT_REFUSED = 1
EXIT_USAGE = 2


def add_bulk_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser("bulk-upload", help="order every row of a CSV file")
    parser.add_argument("file", type=Path, help="CSV: customer_id,brand_id,amount,currency[,...]")
    parser.add_argument("--client", required=True, help="the client id the orders belong to")
    parser.add_argument(
        "--partial", action="store_true", help="order the valid rows even if some are bad"
    )
    add_json_flag(parser)
    return parser


def describe(error: RowError) -> str:
    column = f", column {error.column}" if error.column is not None else ""
    return f"row {error.row}{column}: {error.reason}"


def _offline_router(settings: Settings) -> Router:
    """Routing as `serve` does it, but with no breaker to read: every vendor counts as up
    (the completer sends the orders later, at its own pace, where they were routed)."""
    configs, routing = vendor_setup(settings)
    catalogs = {name: config.brands for name, config in configs.items()}
    return Router(routing, settings.default_vendor, catalogs, lambda _vendor: True)


async def cmd_bulk_upload(settings: Settings, args: argparse.Namespace) -> int:
    try:
        if args.file.stat().st_size > settings.bulk_max_bytes:
            print(f"bulk-upload: {args.file} is over BULK_MAX_BYTES", file=sys.stderr)
            return EXIT_REFUSED
        data = args.file.read_bytes()
    except OSError as exc:
        print(f"bulk-upload: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
        return EXIT_USAGE
    try:
        parsed = parse_file(
            data,
            max_bytes=settings.bulk_max_bytes,
            max_rows=settings.bulk_max_rows,
            max_amount_minor=settings.max_amount_minor,
        )
    except BulkLimitExceeded as exc:
        print(f"bulk-upload: {exc.detail}", file=sys.stderr)
        return EXIT_REFUSED
    parsed = route_rows(parsed, _offline_router(settings).choose)
    for error in parsed.errors:
        print(describe(error))
    if not parsed.acceptable(args.partial):
        hint = " (--partial orders the valid rows)" if parsed.readable and parsed.accepted else ""
        print(f"file refused: {len(parsed.errors)} problem(s); nothing was ordered{hint}")
        return EXIT_REFUSED
    outcome = await _submit(settings, args, parsed)
    if outcome is None:
        return EXIT_USAGE
    for error in outcome.refused:
        print(describe(error))
    _summary(args, outcome, skipped=len({error.row for error in parsed.errors}))
    return EXIT_REFUSED if outcome.refused else 0


async def _submit(
    settings: Settings, args: argparse.Namespace, parsed: BulkFile
) -> BatchOutcome | None:
    dsn, _ = await database_urls(settings)
    pool = await create_pool(dsn)
    leases = OrderLeases(dsn)
    try:
        async with pool.acquire() as conn:
            known = await conn.fetchval(
                "SELECT 1 FROM api_keys WHERE client_id = $1 AND revoked_at IS NULL", args.client
            )
        if not known:
            # A typo would otherwise place orders no API key can ever see.
            print(f"bulk-upload: no active API key for client {args.client!r}", file=sys.stderr)
            return None
        vault = CardVault(load_or_create_key(settings.secrets_key, settings.data_dir))
        # No vendor clients: drive=False never calls a vendor; the completer does that.
        fulfilment = Fulfilment(pool, {}, vault, lambda: datetime.now(UTC))
        intake = Intake(fulfilment, leases, fulfilment.clock, settings.sync_budget_s)
        return await submit_batch(
            intake,
            pool,
            parsed,
            client_id=args.client,
            partial=args.partial,
            now=datetime.now(UTC),
            metadata={"actor": "cli:bulk-upload"},
            progress=terminal_bar("bulk-upload", "rows"),
        )
    finally:
        await leases.close()
        await pool.close()


def _summary(args: argparse.Namespace, outcome: BatchOutcome, skipped: int) -> None:
    again = " (uploaded before: nothing was ordered twice)" if outcome.replayed else ""
    emit(
        args,
        outcome,
        f"batch {outcome.batch_id}{again}",
        f"{outcome.rows:,} rows: {outcome.accepted_rows:,} accepted, {skipped:,} bad rows skipped;"
        f" {outcome.created:,} new orders, {outcome.existing:,} already recorded,"
        f" {len(outcome.refused):,} not ordered",
        f"the service sends them to the vendor; GET /api/v1/bulk-orders/{outcome.batch_id}",
    )
