"""What the benchmarks share: a scratch database dropped at the end, percentiles, progress
lines, and the settings a benchmark's own service runs with."""

from __future__ import annotations

import argparse
import base64
import contextlib
import os
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from ledger.config import Settings


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


@contextlib.asynccontextmanager
async def scratch_database(server: str, prefix: str) -> AsyncIterator[str]:
    """A new database on `server` for this run, its URL yielded, dropped (FORCE) at the end."""
    name = f"{prefix}_{os.getpid()}"
    admin = await asyncpg.connect(server)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield with_database(server, name)
    finally:
        admin = await asyncpg.connect(server)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


def percentile_ms(seconds: list[float], q: float) -> float:
    """Nearest-rank percentile q of durations in seconds, in milliseconds."""
    ordered = sorted(seconds)
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[int(rank) - 1] * 1000


# Where a benchmark's scratch database goes when neither --database-url nor DATABASE_URL says.
DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def add_database_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL,
        help="server to create the scratch database on (default: DATABASE_URL, else %(default)s)",
    )


def say(message: str) -> None:
    print(f"... {message}", file=sys.stderr, flush=True)


def service_settings(sandbox_url: str, prefix: str) -> Settings:
    """The service as `serve` runs it, against this run's sandbox, with throwaway secrets."""
    return Settings(
        sandbox_port=0,
        sandbox_url=sandbox_url,
        data_dir=Path(tempfile.mkdtemp(prefix=f"{prefix}-")),
        secrets_key=base64.b64encode(os.urandom(32)).decode(),
        sandbox_webhook_secret="whsec_" + base64.b64encode(os.urandom(32)).decode(),
    )
