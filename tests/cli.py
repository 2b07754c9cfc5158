"""`python run.py ...` as an operator runs it: from the project root, in a child process."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Enough for a first run that starts an embedded PostgreSQL; a hung command fails the test.
TIMEOUT_S = 120


def run_cli(*args: str, env: Mapping[str, str]) -> subprocess.CompletedProcess:
    """Run to completion, capturing stdout and stderr as text."""
    return subprocess.run(
        [sys.executable, "run.py", *args],
        cwd=ROOT,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    )


def start_cli(
    *args: str, env: Mapping[str, str], stderr: int = subprocess.DEVNULL
) -> subprocess.Popen:
    """Start a long-running command (serve, sandbox); the caller stops it."""
    return subprocess.Popen(
        [sys.executable, "run.py", *args],
        cwd=ROOT,
        env=dict(env),
        stdout=subprocess.DEVNULL,
        stderr=stderr,
        text=True,
    )


def without_database_url() -> dict[str, str]:
    """The environment a new user has: no DATABASE_URL, so run.py embeds PostgreSQL."""
    return {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "TEST_DATABASE_URL"}}


async def orders_key_headers(env: Mapping[str, str]) -> dict[str, str]:
    """`run.py apikey create` for client "acme" (orders:write): the headers that carry it."""
    created = await asyncio.to_thread(
        run_cli, "apikey", "create", "--name", "acme", "--scopes", "orders:write", env=env
    )
    assert created.returncode == 0, created.stderr
    return {"Authorization": f"Bearer {created.stdout.strip().splitlines()[-1]}"}
