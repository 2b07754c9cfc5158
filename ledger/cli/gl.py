"""`run.py gl close DATE`: close a business day by hand (the schedule does it nightly)."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, date, datetime

from ledger.cli.database import connect
from ledger.cli.output import add_json_flag, emit
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
    add_json_flag(close)


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
    totals = [
        {
            "currency": total.currency,
            "state": total.state,
            "count": total.count,
            "amount": format_minor(total.amount_minor, total.currency),
        }
        for total in closed.totals
    ]
    lines = [
        f"{day} {t['currency']} {t['state']}: {t['count']} orders, {t['amount']}" for t in totals
    ]
    lines.append(f"closed {day}: {len(closed.journal)} journal lines")
    emit(
        args, {"business_date": day, "totals": totals, "journal_lines": len(closed.journal)}, *lines
    )
    return 0
