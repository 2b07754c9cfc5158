"""`run.py reconcile`: reconcile vendors' records with the log, or import a vendor's CSV file.

    run.py reconcile [--vendor NAME] [--from ISO --to ISO]
    run.py reconcile --file vendor.csv --vendor NAME

Without a window: the previous business day (BUSINESS_TZ) with the default overlap; without
--vendor: every configured vendor, one run each. Each run gets a new id, so a repeat adds new
observations and nothing else. A summary line per run goes to stdout; errors to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import aiohttp
import asyncpg

from ledger.cli.database import database_urls
from ledger.cli.output import add_json_flag, emit
from ledger.cli.progress import terminal_counter
from ledger.config import Settings
from ledger.db import create_pool
from ledger.reconciliation.files import FileRejected, file_run_id, ingest_file
from ledger.reconciliation.progress import RunSummary
from ledger.reconciliation.runs import (
    OrderConflict,
    PageUnavailable,
    RunInProgress,
    RunMismatch,
    run_reconciliation,
)
from ledger.reconciliation.window import (
    DEFAULT_OVERLAP,
    WindowError,
    check_window,
    previous_business_date,
    scheduled_window,
)
from ledger.vendors.registry import build_clients, vendor_configs

# Exit codes: 2 is argparse's own for bad usage; 1 means a run failed or a file was refused.
EXIT_USAGE = 2
EXIT_FAILED = 1


def _utcnow() -> datetime:
    return datetime.now(UTC)


def add_reconcile_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "reconcile", help="match vendor records to the log for a window, or import a vendor file"
    )
    parser.add_argument("--vendor", help="vendor name (default: all; required with --file)")
    parser.add_argument(
        "--from", dest="start", metavar="ISO", help="window start, ISO 8601 with a UTC offset"
    )
    parser.add_argument(
        "--to", dest="end", metavar="ISO", help="window end (exclusive), ISO 8601 with an offset"
    )
    parser.add_argument(
        "--file",
        type=Path,
        metavar="CSV",
        help="import this vendor CSV instead of listing; with --from/--to, the span it vouches for",
    )
    add_json_flag(parser)
    return parser


def _usage(message: str) -> int:
    print(f"usage error: {message}", file=sys.stderr)
    return EXIT_USAGE


def _describe(summary: RunSummary) -> str:
    before = " (recorded before; nothing new appended)" if summary.already_completed else ""
    return (
        f"run {summary.run_id}: vendor {summary.vendor}, "
        f"window {summary.window_start.isoformat()} .. {summary.window_end.isoformat()}, "
        f"{summary.records_seen} records, {summary.pages} pages, "
        f"{summary.unmatched} unmatched{before}"
    )


def _window(settings: Settings, args: argparse.Namespace) -> tuple[datetime, datetime]:
    if args.start is None and args.end is None:
        zone = ZoneInfo(settings.business_tz)
        return scheduled_window(previous_business_date(_utcnow(), zone), zone, DEFAULT_OVERLAP)
    if args.start is None or args.end is None:
        raise WindowError("give both --from and --to, or neither", field="from")
    try:
        start, end = datetime.fromisoformat(args.start), datetime.fromisoformat(args.end)
    except ValueError as exc:
        raise WindowError(f"not an ISO 8601 timestamp: {exc}", field="from") from None
    check_window(start, end)
    return start, end


async def _import(
    pool: asyncpg.Pool,
    vendor: str,
    path: Path,
    window: tuple[datetime, datetime] | None,
    args: argparse.Namespace,
) -> int:
    try:
        text = await asyncio.to_thread(path.read_text, encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        print(f"error: cannot read {path}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    try:
        run_id = file_run_id(vendor, text, window)
        summary = await ingest_file(pool, vendor, run_id, text, _utcnow, window)
    except FileRejected as exc:
        for error in exc.errors:
            print(f"row {error.row}, column {error.column}: {error.reason}", file=sys.stderr)
        print(f"{path}: rejected, {len(exc.errors)} error(s); nothing recorded", file=sys.stderr)
        return EXIT_FAILED
    except (RunMismatch, RunInProgress) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except OrderConflict:
        print(
            f"{path}: stopped part way (orders kept changing); run again to resume", file=sys.stderr
        )
        return EXIT_FAILED
    emit(args, summary, _describe(summary))
    return 0


async def _run_all(
    pool: asyncpg.Pool,
    settings: Settings,
    window: tuple[datetime, datetime],
    names: list[str],
    args: argparse.Namespace,
) -> int:
    """One run per vendor; with --json, one JSON line per run (its summary)."""
    start, end = window
    configs = vendor_configs(settings)
    failed = False
    async with aiohttp.ClientSession() as session:
        clients = build_clients({n: configs[n] for n in names}, session, random.Random())
        for name in names:
            run_id = f"manual-{name}-{uuid.uuid4().hex}"
            counter = terminal_counter(f"reconcile {name}")
            try:
                summary = await run_reconciliation(
                    pool,
                    clients[name],
                    run_id=run_id,
                    window_start=start,
                    window_end=end,
                    clock=_utcnow,
                    on_page=counter,
                )
            except (RunInProgress, PageUnavailable, RunMismatch, OrderConflict) as exc:
                print(f"\nerror: {exc}" if counter else f"error: {exc}", file=sys.stderr)
                failed = True
                continue
            if counter is not None:
                print(file=sys.stderr)  # end the counter's line
            emit(args, summary, _describe(summary))
    return EXIT_FAILED if failed else 0


async def cmd_reconcile(settings: Settings, args: argparse.Namespace) -> int:
    configured = sorted(vendor_configs(settings))
    if args.vendor is not None and args.vendor not in configured:
        return _usage(f"unknown vendor {args.vendor!r}; configured: {', '.join(configured)}")
    if args.file is not None and args.vendor is None:
        return _usage("--file needs --vendor")
    window = None
    # A file's window is the span it vouches for: given, or taken from its records.
    if args.file is None or args.start or args.end:
        try:
            window = _window(settings, args)
        except WindowError as exc:
            return _usage(f"--{exc.field}: {exc.reason}")
    dsn, _ = await database_urls(settings)
    pool = await create_pool(dsn, min_size=1, max_size=4)
    try:
        if args.file is not None:
            return await _import(pool, args.vendor, args.file, window, args)
        names = [args.vendor] if args.vendor else configured
        return await _run_all(pool, settings, window, names, args)
    finally:
        await pool.close()
