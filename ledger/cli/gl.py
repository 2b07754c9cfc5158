"""`run.py gl close DATE`: close a business day by hand (the schedule does it nightly)."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, date, datetime

from ledger.cli.database import connect
from ledger.config import Settings
from ledger.gl.close import CloseRefused, close_day
from ledger.money import format_minor
from projections.checkpoints import ensure_projection
from projections.registry import all_projections


def add_gl_parser(subparsers: argparse._SubParsersAction) -> None:
    gl = subparsers.add_parser("gl", help="general ledger: close a business day")
    gl_sub = gl.add_subparsers(dest="gl_command", required=True)
    close = gl_sub.add_parser("close", help="append GLDayClosed for DATE (its totals never change)")
    close.add_argument("date", help="business date, YYYY-MM-DD")


async def cmd_gl(settings: Settings, args: argparse.Namespace) -> int:
    projection = all_projections(settings)["gl"]
    try:
        day = date.fromisoformat(args.date)
    except ValueError:
        print(f"gl close: {args.date!r} is not a date (YYYY-MM-DD)", file=sys.stderr)
        return 2
    conn = await connect(settings)
    try:
        await ensure_projection(conn, projection)
        closed = await close_day(conn, projection, day, datetime.now(UTC))
    except CloseRefused as exc:
        print(f"gl close: {exc}", file=sys.stderr)
        return 1
    finally:
        await conn.close()
    for total in closed.totals:
        print(
            f"{day} {total.currency} {total.state}: {total.count} orders, "
            f"{format_minor(total.amount_minor, total.currency)}"
        )
    print(f"closed {day}: {len(closed.journal)} journal lines")
    return 0
