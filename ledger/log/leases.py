"""Leases on PostgreSQL advisory locks, so two nodes never work the same thing at once.

Session-level locks held on a dedicated connection: if the holder dies its connection closes,
the lock is released, and a waiting node takes over. Two-int keys (namespace, hashtext(name))
never collide with the single-bigint migration lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import zlib

import asyncpg
import structlog

from ledger.db import DATABASE_GONE, connect

log = structlog.get_logger(__name__)


class LeaseKind(enum.IntEnum):
    PROJECTION = 1
    ORDER = 2
    RECONCILIATION = 3
    REBUILD = 4
    SEAL = 5
    RESOLUTION = 6


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


# Order leases are spread over this many sessions: one session answers one query at a time, so
# with a single one every request of a busy node queued behind the others' lock and unlock.
ORDER_LEASE_SESSIONS = 4


class _LeaseSession:
    """One dedicated connection holding advisory locks; its queries run one at a time."""

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._conn: asyncpg.Connection | None = None
        self.lock = asyncio.Lock()  # asyncpg runs one query at a time per connection

    async def connection(self) -> asyncpg.Connection:
        if self._conn is None or self._conn.is_closed():
            # A new session holds none of the old locks. `_held` still keeps this process's
            # tasks apart; another node could now take one of our orders, and the worst that
            # does is a second attempt with the same vendor idempotency key.
            self._conn = await connect(self._dsn)
        return self._conn

    def current(self) -> asyncpg.Connection | None:
        return self._conn if self._conn is not None and not self._conn.is_closed() else None

    def lost(self) -> None:
        """Whatever this session still holds must not outlive our memory of it."""
        if self._conn is not None:
            self._conn.terminate()
        self._conn = None

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()


class OrderLeases:
    """Per-order leases for this process, held on a few dedicated connections.

    One connection can hold any number of advisory locks, and if the process dies they all go
    with it, so a crashed node's orders are free for the completer at once. An order's lease
    always lives on the same session (chosen by its stream id), so it is released where it was
    taken. Advisory locks are re-entrant within a session, so `_held` stops two tasks of this
    process sharing one.
    """

    def __init__(self, dsn: str, sessions: int = ORDER_LEASE_SESSIONS) -> None:
        self._sessions = [_LeaseSession(dsn) for _ in range(sessions)]
        self._held: set[str] = set()
        self._releasing: set[asyncio.Task[None]] = set()  # referenced until done

    def _session(self, stream_id: str) -> _LeaseSession:
        return self._sessions[zlib.crc32(stream_id.encode()) % len(self._sessions)]

    async def try_acquire(self, stream_id: str) -> bool:
        if stream_id in self._held:
            return False
        self._held.add(stream_id)  # reserved before the await: no same-process race
        session = self._session(stream_id)
        asked = False
        try:
            async with session.lock:
                conn = await session.connection()
                asked = True
                acquired = await try_lease(conn, LeaseKind.ORDER, stream_id)
        except BaseException:
            if asked:
                # Cancelled (a bulk upload's TaskGroup stopping its workers) or failed with the
                # ask out: the server may have granted it, and a lock nobody remembers is held
                # until the session ends. Given up where no cancellation reaches it.
                self._release_in_background(stream_id)
            else:
                self._held.discard(stream_id)
            raise
        if not acquired:
            self._held.discard(stream_id)
        return acquired

    async def release(self, stream_id: str) -> None:
        """Give the lease up, even if the caller is cancelled while it waits for the session
        (shielded: the unlock and forgetting the lease finish on their own)."""
        await asyncio.shield(self._release_in_background(stream_id))

    def _release_in_background(self, stream_id: str) -> asyncio.Task[None]:
        task = asyncio.ensure_future(self._release(stream_id))
        self._releasing.add(task)
        task.add_done_callback(self._releasing.discard)
        return task

    async def _release(self, stream_id: str) -> None:
        """Never raises for a lost database: a lease held by a session that is gone is released
        already, and forgetting it here is what lets this process take the order again
        (before, one failed unlock made it answer 409 until a restart)."""
        session = self._session(stream_id)
        async with session.lock:
            conn = session.current()
            try:
                if stream_id in self._held and conn is not None:
                    await release(conn, LeaseKind.ORDER, stream_id)
            except DATABASE_GONE as exc:
                log.warning("lease connection lost", stream_id=stream_id, error=str(exc))
                session.lost()
            finally:
                self._held.discard(stream_id)

    async def close(self) -> None:
        await asyncio.gather(*self._releasing, return_exceptions=True)
        for session in self._sessions:
            await session.close()
