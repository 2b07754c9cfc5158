"""`run.py verify`, `seal` and `digest`: the log's hash chains, seals and kept digests, as an
auditor uses them."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ledger.cli.database import connect
from ledger.cli.output import add_json_flag, emit
from ledger.cli.progress import terminal_bar
from ledger.config import Settings
from ledger.log import seals
from ledger.log.digests import (
    DigestError,
    check_digests,
    current_digest,
    encode_digest,
    parse_digests,
)

EXIT_TAMPERED = 1
EXIT_USAGE = 2


def add_audit_parsers(subparsers: argparse._SubParsersAction) -> None:
    verify = subparsers.add_parser(
        "verify", help="recompute every hash chain and seal; exit 1 on tampering"
    )
    verify.add_argument(
        "--digest",
        metavar="JSON|FILE",
        help="also check digests kept outside the database (`run.py digest` output, or a file"
        " of them, one per line): exit 1 if the log no longer reproduces them",
    )
    seal = subparsers.add_parser("seal", help="seal events appended since the last seal")
    subparsers.add_parser(
        "digest", help="seal, then print the ledger digest: one JSON line, alone on stdout"
    )
    add_json_flag(verify, seal)  # digest prints JSON already


def _kept(argument: str) -> str:
    """The digests given: inline JSON, or the path of a file holding them."""
    if argument.lstrip().startswith("{"):
        return argument
    return Path(argument).read_text(encoding="utf-8")


async def cmd_verify(settings: Settings, args: argparse.Namespace) -> int:
    kept = None
    if args.digest is not None:
        # An empty value is a mistake (`--digest "$UNSET"`), never a check left out.
        if not args.digest.strip():
            print("verify --digest: give the digests kept (JSON) or their file", file=sys.stderr)
            return EXIT_USAGE
        try:
            kept = parse_digests(_kept(args.digest))
        except (OSError, UnicodeDecodeError, DigestError) as exc:
            print(f"verify --digest: {exc}", file=sys.stderr)
            return EXIT_USAGE
    conn = await connect(settings)
    try:
        report = await seals.verify(conn, terminal_bar("verify", "events"))
        divergence = await check_digests(conn, kept) if kept else None
    finally:
        await conn.close()
    summary = f"{report.events} events in {report.streams} streams, {report.seals} seals"
    if kept:
        summary += f", {len(kept)} kept digest(s)"
    problem = report.problem or divergence
    result = {
        "ok": problem is None,
        "problem": problem,
        "events": report.events,
        "streams": report.streams,
        "seals": report.seals,
        "digests": len(kept) if kept else 0,
    }
    if problem is None:
        emit(args, result, f"ok: {summary} verified")
        return 0
    emit(args, result, f"FAILED: {problem}", f"checked {summary}")
    return EXIT_TAMPERED


async def cmd_seal(settings: Settings, args: argparse.Namespace) -> int:
    conn = await connect(settings)
    try:
        sealed = await seals.seal(conn)
    finally:
        await conn.close()
    emit(args, {"sealed": sealed}, f"sealed {sealed} new events")
    return 0


async def cmd_digest(settings: Settings, _args: argparse.Namespace) -> int:
    conn = await connect(settings)
    try:
        digest = await current_digest(conn)
    finally:
        await conn.close()
    # Only the digest goes to stdout: `digest >> store` must keep nothing else.
    if digest is None:
        print("the log is empty: there is nothing to digest yet", file=sys.stderr)
        return EXIT_TAMPERED
    print("keep the line below outside the database; `verify --digest` checks it", file=sys.stderr)
    print(encode_digest(digest))
    return 0
