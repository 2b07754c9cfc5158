"""The one entry point: `python run.py --help`."""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, date, datetime

import asyncpg
from aiohttp import web

from ledger import seals
from ledger.cli_apikey import add_apikey_parser
from ledger.cli_apikey import cmd_apikey as apikey_command
from ledger.cli_bulk import add_bulk_parser, cmd_bulk_upload
from ledger.cli_reconcile import add_reconcile_parser, cmd_reconcile
from ledger.config import ConfigError, Settings, load_settings
from ledger.db import MigrationError, migrate, resolve_database_url
from ledger.gl_close import CloseRefused, close_day
from ledger.http.app import create_app
from ledger.logs import configure_logging
from ledger.money import format_minor
from ledger.vendors.sandbox import SandboxConfig, run_sandbox
from ledger.vendors.sandbox_faults import parse_faults
from projections.rebuild import RebuildBusy, rebuild
from projections.registry import all_projections
from projections.runner import ensure_projection


async def _connect(settings: Settings) -> asyncpg.Connection:
    return await asyncpg.connect(
        await resolve_database_url(settings.database_url, settings.data_dir)
    )


def cmd_serve(settings: Settings, _args: argparse.Namespace) -> int:
    dsn = asyncio.run(resolve_database_url(settings.database_url, settings.data_dir))
    app = create_app(settings, dsn)
    print(f"serving on http://{settings.host}:{settings.port}", file=sys.stderr)
    web.run_app(app, host=settings.host, port=settings.port, print=None, access_log=None)
    return 0


async def cmd_migrate(settings: Settings, _args: argparse.Namespace) -> int:
    conn = await _connect(settings)
    try:
        applied = await migrate(conn)
    finally:
        await conn.close()
    print("applied: " + ", ".join(applied) if applied else "database is up to date")
    return 0


def _progress(name: str):
    if not sys.stderr.isatty():
        return None

    def show(done: int, total: int, elapsed: float) -> None:
        rate = done / elapsed if elapsed > 0 else 0.0
        percent = 100.0 * done / total if total else 100.0
        print(
            f"\r{name}: {percent:5.1f}% {done:,}/{total:,} events {rate:,.0f} ev/s",
            end="",
            file=sys.stderr,
            flush=True,
        )

    return show


async def cmd_rebuild(settings: Settings, args: argparse.Namespace) -> int:
    projections = all_projections(settings)
    unknown = [n for n in args.names if n not in projections]
    if unknown:
        print(
            f"unknown projection(s): {', '.join(unknown)}; known: {', '.join(projections)}",
            file=sys.stderr,
        )
        return 2
    conn = await _connect(settings)
    failed = False
    try:
        await migrate(conn)
        for name in args.names or list(projections):
            await ensure_projection(conn, projections[name])
            differences = await rebuild(
                conn, projections[name], verify_only=args.verify, progress=_progress(name)
            )
            if sys.stderr.isatty():
                print(file=sys.stderr)
            for line in differences:
                print(line)
            failed = failed or bool(differences)
            verb = "verified" if args.verify else "rebuilt"
            outcome = f"{len(differences)} difference(s)" if differences else "no differences"
            print(f"{name}: {verb}, {outcome}" if args.verify else f"{name}: {verb}")
    finally:
        await conn.close()
    return 1 if failed else 0


async def cmd_verify(settings: Settings, _args: argparse.Namespace) -> int:
    conn = await _connect(settings)
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


async def cmd_apikey(settings: Settings, args: argparse.Namespace) -> int:
    conn = await _connect(settings)
    try:
        await migrate(conn)
        return await apikey_command(conn, args)
    finally:
        await conn.close()


async def cmd_sandbox(settings: Settings, args: argparse.Namespace) -> int:
    """The sandbox vendor alone (for a separate vendor process in demos and crash tests)."""
    config = SandboxConfig(faults=parse_faults(settings.sandbox_faults))
    port = args.port if args.port is not None else settings.sandbox_port
    print(f"sandbox vendor on http://{settings.host}:{port}", file=sys.stderr)
    await run_sandbox(settings.host, port, config)
    return 0


async def cmd_gl(settings: Settings, args: argparse.Namespace) -> int:
    projection = all_projections(settings)["gl"]
    try:
        day = date.fromisoformat(args.date)
    except ValueError:
        print(f"gl close: {args.date!r} is not a date (YYYY-MM-DD)", file=sys.stderr)
        return 2
    conn = await _connect(settings)
    try:
        await migrate(conn)
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


async def cmd_seal(settings: Settings, _args: argparse.Namespace) -> int:
    conn = await _connect(settings)
    try:
        print(f"sealed {await seals.seal(conn)} new events")
    finally:
        await conn.close()
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="run.py", description="Gift card vendor integration ledger")
    sub = p.add_subparsers(dest="command")
    sub.add_parser("serve", help="serve the API, projections and workers (default)")
    sub.add_parser("migrate", help="apply pending database migrations")
    rb = sub.add_parser("rebuild", help="rebuild projections from the log and swap them in")
    rb.add_argument("names", nargs="*", help="projections to rebuild (default: all)")
    rb.add_argument(
        "--verify",
        action="store_true",
        help="rebuild into shadow tables and diff against live; exit 1 on any difference",
    )
    sub.add_parser("verify", help="recompute every hash chain and seal; exit 1 on tampering")
    sub.add_parser("seal", help="seal events appended since the last seal")
    add_apikey_parser(sub)
    add_bulk_parser(sub)
    gl = sub.add_parser("gl", help="general ledger: close a business day")
    gl_sub = gl.add_subparsers(dest="gl_command", required=True)
    close = gl_sub.add_parser("close", help="append GLDayClosed for DATE (its totals never change)")
    close.add_argument("date", help="business date, YYYY-MM-DD")
    add_reconcile_parser(sub)
    sandbox = sub.add_parser("sandbox", help="run the sandbox vendor alone (SANDBOX_FAULTS apply)")
    sandbox.add_argument("--port", type=int, help="listen port (default SANDBOX_PORT)")
    return p


COMMANDS = {
    "migrate": cmd_migrate,
    "rebuild": cmd_rebuild,
    "verify": cmd_verify,
    "seal": cmd_seal,
    "gl": cmd_gl,
    "apikey": cmd_apikey,
    "bulk-upload": cmd_bulk_upload,
    "sandbox": cmd_sandbox,
    "reconcile": cmd_reconcile,
}


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level)
    command = args.command or "serve"
    try:
        if command == "serve":
            return cmd_serve(settings, args)
        return asyncio.run(COMMANDS[command](settings, args))
    except (MigrationError, RebuildBusy, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
