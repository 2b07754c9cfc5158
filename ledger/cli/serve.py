"""`run.py serve` (the default) and `run.py sandbox` (the sandbox vendor alone)."""

from __future__ import annotations

import argparse
import asyncio
import sys

from aiohttp import web

from ledger.cli.database import database_urls
from ledger.config import Settings
from ledger.http.app import create_app
from ledger.vendors.sandbox.faults import parse_faults
from ledger.vendors.sandbox.server import SandboxConfig, run_sandbox


def add_serve_parsers(subparsers: argparse._SubParsersAction) -> None:
    subparsers.add_parser("serve", help="serve the API, projections and workers (default)")
    sandbox = subparsers.add_parser(
        "sandbox", help="run the sandbox vendor alone (SANDBOX_FAULTS apply)"
    )
    sandbox.add_argument("--port", type=int, help="listen port (default SANDBOX_PORT)")


def cmd_serve(settings: Settings, _args: argparse.Namespace) -> int:
    """Blocking: aiohttp's run_app owns the event loop and the signal handling."""
    # Waits, when this role may not migrate, until someone who may has.
    dsn, migrate_dsn = asyncio.run(database_urls(settings, wait=True))
    app = create_app(settings, dsn, migrate_dsn=migrate_dsn)
    print(f"serving on http://{settings.host}:{settings.port}", file=sys.stderr)
    web.run_app(app, host=settings.host, port=settings.port, print=None, access_log=None)
    return 0


async def cmd_sandbox(settings: Settings, args: argparse.Namespace) -> int:
    """The sandbox vendor alone (for a separate vendor process in demos and crash tests)."""
    config = SandboxConfig(faults=parse_faults(settings.sandbox_faults))
    port = args.port if args.port is not None else settings.sandbox_port
    print(f"sandbox vendor on http://{settings.host}:{port}", file=sys.stderr)
    await run_sandbox(settings.host, port, config)
    return 0
