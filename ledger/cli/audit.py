"""`run.py verify` and `run.py seal`: the log's hash chains and seals, as an auditor uses them."""

from __future__ import annotations

import argparse

from ledger.cli.database import connect
from ledger.config import Settings
from ledger.log import seals


def add_audit_parsers(subparsers: argparse._SubParsersAction) -> None:
    subparsers.add_parser("verify", help="recompute every hash chain and seal; exit 1 on tampering")
    subparsers.add_parser("seal", help="seal events appended since the last seal")


async def cmd_verify(settings: Settings, _args: argparse.Namespace) -> int:
    conn = await connect(settings)
    try:
        report = await seals.verify(conn)
    finally:
        await conn.close()
    summary = f"{report.events} events in {report.streams} streams, {report.seals} seals"
    if report.ok:
        print(f"ok: {summary} verified")
        return 0
    print(f"FAILED: {report.problem}")
    print(f"checked {summary}")
    return 1


async def cmd_seal(settings: Settings, _args: argparse.Namespace) -> int:
    conn = await connect(settings)
    try:
        print(f"sealed {await seals.seal(conn)} new events")
    finally:
        await conn.close()
    return 0
