"""The command table: every `run.py` subcommand, its parser and the function that runs it."""

from __future__ import annotations

import argparse
import asyncio
import socket
import sys
from collections.abc import Awaitable, Callable
from importlib import metadata

import asyncpg

from ledger.cli.apikey import add_apikey_parser, cmd_apikey
from ledger.cli.audit import add_audit_parsers, cmd_digest, cmd_seal, cmd_verify
from ledger.cli.bulk import add_bulk_parser, cmd_bulk_upload
from ledger.cli.database import LOGIN_REFUSED, add_migrate_parser, cmd_migrate
from ledger.cli.gl import add_gl_parser, cmd_gl
from ledger.cli.rebuild import add_rebuild_parser, cmd_rebuild
from ledger.cli.reconcile import add_reconcile_parser, cmd_reconcile
from ledger.cli.serve import add_serve_parsers, cmd_sandbox, cmd_serve
from ledger.cli.show_config import add_config_parser, cmd_config
from ledger.config import ConfigError, Settings, load_settings
from ledger.db import ABORTED_ON_A_CONFLICT, DATABASE_GONE, MigrationError
from ledger.logs import configure_logging
from projections.rebuild import RebuildBusy

Command = Callable[[Settings, argparse.Namespace], Awaitable[int]]

# sysexits.h's EX_TEMPFAIL: a temporary failure, and the invoker is invited to retry (cron
# wrappers and job runners know it). The database away, or a transaction it aborted on a
# conflict: the same command again succeeds once the other finishes or the server is back.
EXIT_TRY_AGAIN = 75
# The database away or cutting the connection, as the service knows it (ledger.db), less the
# OSErrors that are not the socket's: a command reads files too. gaierror: a host that does not
# resolve.
DATABASE_UNREACHABLE = (
    ConnectionError,
    TimeoutError,
    socket.gaierror,
    *(error for error in DATABASE_GONE if error is not OSError),
)

DATABASE_SETTINGS = "DATABASE_URL (MIGRATE_DATABASE_URL for migrate, READ_DATABASE_URL for reads)"

COMMANDS: dict[str, Command] = {
    "serve": cmd_serve,
    "config": cmd_config,
    "migrate": cmd_migrate,
    "rebuild": cmd_rebuild,
    "verify": cmd_verify,
    "seal": cmd_seal,
    "digest": cmd_digest,
    "gl": cmd_gl,
    "apikey": cmd_apikey,
    "bulk-upload": cmd_bulk_upload,
    "sandbox": cmd_sandbox,
    "reconcile": cmd_reconcile,
}


def _version() -> str:
    """The installed package's version (pyproject), or "unknown" from a bare checkout."""
    try:
        return metadata.version("giftcard-ledger")
    except metadata.PackageNotFoundError:
        return "unknown"


# Shown under each command's --help: what a person types first.
EXAMPLES: dict[str, tuple[str, ...]] = {
    "serve": (
        "python run.py serve",
        "PORT=9000 DATABASE_URL=postgresql://app@db/ledger python run.py serve",
    ),
    "migrate": ("MIGRATE_DATABASE_URL=postgresql://owner@db/ledger python run.py migrate",),
    "rebuild": (
        "python run.py rebuild",
        "python run.py rebuild --verify gl   # exit 1 on a difference",
    ),
    "verify": ("python run.py verify", "python run.py verify --digest digests.jsonl --json"),
    "seal": ("python run.py seal",),
    "digest": ("python run.py digest >> /secure/store/digests.jsonl",),
    "apikey": (
        "python run.py apikey create --name shop --scopes orders:write | tail -1",
        "python run.py apikey list --json",
        "python run.py apikey rotate KEY_ID --overlap-hours 48",
    ),
    "bulk-upload": ("python run.py bulk-upload campaign.csv --client shop --partial",),
    "gl": ("python run.py gl close 2026-11-30",),
    "reconcile": (
        "python run.py reconcile --vendor tango --from 2026-11-30T00:00:00Z"
        " --to 2026-12-01T00:00:00Z",
        "python run.py reconcile --vendor tango --file tango-nov.csv",
    ),
    "sandbox": (
        "python run.py sandbox --port 9001",
        "python run.py sandbox --dialect tango --port 9002",
    ),
    "config": ("CONFIG_FILE=ledger.toml python run.py config --json",),
}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="run.py", description="Gift card vendor integration ledger")
    p.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = p.add_subparsers(dest="command")
    add_serve_parsers(sub)
    add_migrate_parser(sub)
    add_rebuild_parser(sub)
    add_audit_parsers(sub)
    add_apikey_parser(sub)
    add_bulk_parser(sub)
    add_gl_parser(sub)
    add_reconcile_parser(sub)
    add_config_parser(sub)
    for name, command in sub.choices.items():
        command.formatter_class = argparse.RawDescriptionHelpFormatter
        command.epilog = "examples:\n" + "\n".join(f"  {line}" for line in EXAMPLES[name])
        command.epilog += (
            "\n\nexit codes: 0 done, 1 what it checked is wrong, 2 bad usage,"
            f" {EXIT_TRY_AGAIN} the database is unavailable or aborted it on a conflict: run again"
        )
    return p


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
        return asyncio.run(COMMANDS[command](settings, args))
    except ConfigError as exc:  # a file the command reads, such as VENDORS_FILE
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    except asyncpg.ClientConfigurationError as exc:  # what asyncpg refuses before connecting
        print(f"configuration error: {DATABASE_SETTINGS}: {exc}", file=sys.stderr)
        return 2
    except LOGIN_REFUSED as exc:
        print(
            f"error: the database refused the login ({_cause(exc)}): check {DATABASE_SETTINGS}",
            file=sys.stderr,
        )
        return 2
    except (MigrationError, RebuildBusy, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except DATABASE_UNREACHABLE as exc:
        print(
            f"error: the database is unavailable ({_cause(exc)}): run the command again once it"
            " is back (what it had committed stays: docs/operations.md, exit code 75)",
            file=sys.stderr,
        )
        return EXIT_TRY_AGAIN
    except ABORTED_ON_A_CONFLICT as exc:
        print(
            f"error: the database aborted the command's transaction on a conflict with another"
            f" ({_cause(exc)}); that transaction was rolled back: run the command again",
            file=sys.stderr,
        )
        return EXIT_TRY_AGAIN


def _cause(exc: BaseException) -> str:
    """The error's name and first line (asyncpg's add DETAIL and HINT lines)."""
    first_line = next(iter(str(exc).splitlines()), "")
    return f"{type(exc).__name__}: {first_line}" if first_line else type(exc).__name__
