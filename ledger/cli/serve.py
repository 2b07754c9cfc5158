"""`run.py serve` (the default) and `run.py sandbox` (the sandbox vendor alone)."""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import signal
import socket
import sys

import asyncpg
import msgspec
import structlog
from aiohttp import web

from ledger.cli.database import LOGIN_REFUSED, database_urls
from ledger.config import NODE_ROLES, Settings
from ledger.database_url import with_setting
from ledger.db import DATABASE_ERRORS, MIGRATIONS_WAIT_S, MigrationError
from ledger.http.app import create_app
from ledger.http.runtime.server import ProblemAppRunner
from ledger.http.runtime.waiting import create_waiting_app
from ledger.vendors.sandbox.faults import parse_faults
from ledger.vendors.sandbox.server import SandboxConfig, run_sandbox

log = structlog.get_logger(__name__)


def add_serve_parsers(subparsers: argparse._SubParsersAction) -> None:
    serve = subparsers.add_parser("serve", help="serve the API, projections and workers (default)")
    serve.add_argument(
        "--role",
        choices=NODE_ROLES,
        help="api: requests only; workers: background work only; all: both (default NODE_ROLE)",
    )
    sandbox = subparsers.add_parser(
        "sandbox", help="run the sandbox vendor alone (SANDBOX_FAULTS apply)"
    )
    sandbox.add_argument("--port", type=int, help="listen port (default SANDBOX_PORT)")
    sandbox.add_argument(
        "--dialect",
        choices=["sandbox", "tango", "tremendous", "giftbit", "reloadly", "runa"],
        default="sandbox",
        help="whose API it speaks: its own, or a real vendor's as that vendor's double",
    )


def node_name(role: str) -> str:
    """What this node's sessions show as application_name (pg_stat_activity, and through it
    which node holds which lease in pg_locks): role, host and process."""
    return f"ledger {role} {socket.gethostname()}:{os.getpid()}"


def freeze_startup_heap() -> None:
    """Leave what startup built out of every later full garbage collection.

    Modules, the app, its pools and workers live as long as the process, yet each full
    (generation 2) collection walks them all with the event loop stopped: 25-37 ms in
    bench/intake.py, and at half the maximum rate the requests queued behind one such pause
    made that run's p99 (docs/benchmarks.md). Collected first, so no startup garbage is kept
    for good; once frozen, the pauses were 6-8 ms there. A frozen object dropped later (a pooled
    connection replaced after the database restarts) is freed by reference counting, or kept
    if it sits in a cycle: at most what startup built, never more.
    """
    gc.collect()
    gc.freeze()


async def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    """Listen at once; answer unready until the database is usable; then serve the app until
    SIGTERM or SIGINT, when in-flight requests and workers get their grace."""
    role = getattr(args, "role", None)  # absent when `run.py` is given no command at all
    if role is not None:
        settings = msgspec.structs.replace(settings, node_role=role)
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(signum, stop.set)
    checks: dict[str, object] = {"database": "connecting"}
    waiting = ProblemAppRunner(create_waiting_app(checks, MIGRATIONS_WAIT_S), access_log=None)
    await waiting.setup()
    try:
        await web.TCPSite(waiting, settings.host, settings.port).start()
        urls = await _usable_database(settings, checks, stop)
        if urls is None:
            return 0
        dsn = with_setting(urls[0], "application_name", node_name(settings.node_role))
        app = create_app(settings, dsn, migrate_dsn=urls[1])
        runner = ProblemAppRunner(app, access_log=None)
        # Started while the waiting app still answers: the port is closed only for the moment
        # between its site closing and the app's opening.
        await runner.setup()
    finally:
        await waiting.cleanup()
    freeze_startup_heap()
    try:
        await web.TCPSite(runner, settings.host, settings.port).start()
        log.info("serving", url=f"http://{settings.host}:{settings.port}", role=settings.node_role)
        await stop.wait()
    finally:
        await runner.cleanup()
    return 0


async def _usable_database(
    settings: Settings, checks: dict[str, object], stop: asyncio.Event
) -> tuple[str, str] | None:
    """(service URL, migrating URL) once the database answers and every migration is
    applied; None when asked to stop first. What is missing is kept in `checks`."""
    stopping = asyncio.ensure_future(stop.wait())
    try:
        while not stop.is_set():
            # Raced against stop: a connect to a silent host can take asyncpg's whole timeout.
            attempt = asyncio.ensure_future(database_urls(settings))
            await asyncio.wait({attempt, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if not attempt.done():
                attempt.cancel()
                break
            checks.clear()
            try:
                return attempt.result()
            except MigrationError as exc:
                checks.update(database="ok", pending_migrations=str(exc))
            except asyncpg.ClientConfigurationError:
                raise  # settings no retry can mend: the command line says which (exit 2)
            except LOGIN_REFUSED as exc:
                # Waited for: the role or database may be on its way (a migration job).
                checks.update(database=f"refused the login: {exc}")
            except DATABASE_ERRORS as exc:
                checks.update(database=f"unreachable: {type(exc).__name__}")
            log.warning("not ready: waiting for the database", **checks)
            await asyncio.wait({stopping}, timeout=MIGRATIONS_WAIT_S)
    finally:
        stopping.cancel()
    return None


async def cmd_sandbox(settings: Settings, args: argparse.Namespace) -> int:
    """The sandbox vendor alone (for a separate vendor process in demos and crash tests)."""
    config = SandboxConfig(faults=parse_faults(settings.sandbox_faults), dialect=args.dialect)
    port = args.port if args.port is not None else settings.sandbox_port
    print(f"sandbox vendor on http://{settings.host}:{port}", file=sys.stderr)
    await run_sandbox(settings.host, port, config)
    return 0
