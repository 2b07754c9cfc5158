"""Leases on PostgreSQL advisory locks, so two nodes never work the same thing at once.

Session-level locks held on a dedicated connection: if the holder dies its connection closes,
the lock is released, and a waiting node takes over. Two-int keys (namespace, hashtext(name))
never collide with the single-bigint migration lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum

import asyncpg


class LeaseKind(enum.IntEnum):
    PROJECTION = 1
    ORDER = 2
    RECONCILIATION = 3
    REBUILD = 4
    SEAL = 5


async def try_lease(conn: asyncpg.Connection, kind: LeaseKind, name: str) -> bool:
    return await conn.fetchval("SELECT pg_try_advisory_lock($1, hashtext($2))", int(kind), name)


async def release(conn: asyncpg.Connection, kind: LeaseKind, name: str) -> None:
    await conn.execute("SELECT pg_advisory_unlock($1, hashtext($2))", int(kind), name)


async def wait_for_lease(
    conn: asyncpg.Connection,
    kind: LeaseKind,
    name: str,
    stop: asyncio.Event,
    retry_every: float,
) -> bool:
    """Poll until the lease is ours (True) or stop is set (False).

    Polling with try-lock rather than a blocking pg_advisory_lock keeps the wait cancellable
    and lets shutdown proceed without killing a backend.
    """
    while not stop.is_set():
        if await try_lease(conn, kind, name):
            return True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), retry_every)
    return False
