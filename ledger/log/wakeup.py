"""Followers wake on NOTIFY and also poll, so a lost notification only delays them."""

from __future__ import annotations

import asyncio

import asyncpg

from ledger.log.store import NOTIFY_CHANNEL


async def listen_for_appends(conn: asyncpg.Connection) -> asyncio.Event:
    """An event set whenever any writer appends (the connection must stay open)."""
    woken = asyncio.Event()
    await conn.add_listener(NOTIFY_CHANNEL, lambda *_: woken.set())
    return woken


async def sleep_until_woken(woken: asyncio.Event, stop: asyncio.Event, poll: float | None) -> bool:
    """Return when woken or stop is set, or after `poll` seconds (None: no timeout).

    True when woken (and not stopping).
    """
    waiters = [asyncio.ensure_future(woken.wait()), asyncio.ensure_future(stop.wait())]
    try:
        await asyncio.wait(waiters, timeout=poll, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
    return woken.is_set() and not stop.is_set()
