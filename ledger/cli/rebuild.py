"""`run.py rebuild [NAMES] [--verify]`: rebuild read models from the log, or diff them."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from ledger.cli.database import connect
from ledger.cli.output import add_json_flag, emit
from ledger.cli.progress import terminal_bar
from ledger.config import Settings
from projections.checkpoints import ensure_projection
from projections.rebuild import rebuild
from projections.registry import all_projections


def add_rebuild_parser(subparsers: argparse._SubParsersAction) -> None:
    rb = subparsers.add_parser("rebuild", help="rebuild projections from the log and swap them in")
    rb.add_argument("names", nargs="*", help="projections to rebuild (default: all)")
    rb.add_argument(
        "--verify",
        action="store_true",
        help="rebuild into shadow tables and diff against live; exit 1 on any difference",
    )
    add_json_flag(rb)


def _progress(name: str) -> Callable[[int, int, float], None] | None:
    """The rebuild's (done, total, elapsed) as the terminal bar draws it (none in a pipe)."""
    bar = terminal_bar(name, "events")
    return (lambda done, total, _elapsed: bar(done, total)) if bar is not None else None


async def cmd_rebuild(settings: Settings, args: argparse.Namespace) -> int:
    projections = all_projections(settings)
    unknown = [n for n in args.names if n not in projections]
    if unknown:
        print(
            f"unknown projection(s): {', '.join(unknown)}; known: {', '.join(projections)}",
            file=sys.stderr,
        )
        return 2
    conn = await connect(settings)
    results = []
    try:
        for name in args.names or list(projections):
            await ensure_projection(conn, projections[name])
            differences = await rebuild(
                conn, projections[name], verify_only=args.verify, progress=_progress(name)
            )
            results.append({"projection": name, "differences": differences})
            if not args.json:
                verb = "verified" if args.verify else "rebuilt"
                outcome = f"{len(differences)} difference(s)" if differences else "no differences"
                summary = f"{name}: {verb}, {outcome}" if args.verify else f"{name}: {verb}"
                emit(args, None, *differences, summary)
    finally:
        await conn.close()
    failed = any(result["differences"] for result in results)
    if args.json:
        emit(args, {"verify": args.verify, "ok": not failed, "projections": results})
    return 1 if failed else 0
