"""Waiting for followers in tests.

Followers read only below the server-wide snapshot xmin, so a transaction open anywhere on the
same PostgreSQL server (another test database, a benchmark) can hold them back for a moment.
Tests wait for the outcome instead of assuming one pass is enough.
"""

from __future__ import annotations

import asyncio

import asyncpg

from projections.base import Projection
from projections.runner import catch_up, lag


async def caught_up(conn: asyncpg.Connection, projection: Projection, within_s: float = 30) -> int:
    """Apply until the projection has every event in the log; return how many were applied."""
    applied = 0
    deadline = asyncio.get_running_loop().time() + within_s
    while True:
        applied += await catch_up(conn, projection)
        if (await lag(conn, [projection]))[projection.name][0] == 0:
            return applied
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"{projection.name} did not catch up within {within_s} s")
        await asyncio.sleep(0.02)
