"""`run.py serve` (the default) and `run.py sandbox` (the sandbox vendor alone)."""

from __future__ import annotations

import argparse
import asyncio
import sys

import asyncpg
from aiohttp import web

from ledger.config import Settings
from ledger.db import (
    as_service_role,
    embedded_service_url,
    prepare_database,
    resolve_database_url,
)
from ledger.http.app import create_app
from ledger.vendors.sandbox.faults import parse_faults
from ledger.vendors.sandbox.server import SandboxConfig, run_sandbox
from projections.registry import read_model_tables


def add_serve_parsers(subparsers: argparse._SubParsersAction) -> None:
    subparsers.add_parser("serve", help="serve the API, projections and workers (default)")
    sandbox = subparsers.add_parser(
        "sandbox", help="run the sandbox vendor alone (SANDBOX_FAULTS apply)"
    )
    sandbox.add_argument("--port", type=int, help="listen port (default SANDBOX_PORT)")


async def _urls(settings: Settings) -> tuple[str, str]:
    """(the service's URL, the migrating URL). The embedded server is set up like a proper
    deployment: migrations as its superuser, the service as a login of SERVICE_ROLE."""
    if settings.database_url:
        migrate_url = settings.migrate_database_url or settings.database_url
        return await as_service_role(settings.database_url, settings.service_role), migrate_url
    superuser = await resolve_database_url(None, settings.data_dir)
    conn = await asyncpg.connect(superuser)
    try:
        await prepare_database(conn, settings.service_role, read_model_tables(settings))
    finally:
        await conn.close()
    return await embedded_service_url(superuser, settings.service_role), superuser


def cmd_serve(settings: Settings, _args: argparse.Namespace) -> int:
    """Blocking: aiohttp's run_app owns the event loop and the signal handling."""
    dsn, migrate_dsn = asyncio.run(_urls(settings))
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
