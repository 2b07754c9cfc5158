"""Order leases survive their connection dying: a release never raises for it and the order
can be leased again at once (before, the process refused the key with 409 until a restart)."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from ledger.log import leases as leases_module
from ledger.log.leases import OrderLeases


async def test_a_lease_whose_connection_was_killed_is_forgotten_and_taken_again(database_url):
    leases = OrderLeases(database_url)
    admin = await asyncpg.connect(database_url)
    try:
        assert await leases.try_acquire("order:acme:key-1")
        holders = await admin.fetch(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted"
        )
        assert holders
        for row in holders:
            await admin.execute("SELECT pg_terminate_backend($1)", row["pid"])
        await leases.release("order:acme:key-1")  # the unlock fails; the lease is forgotten
        assert await leases.try_acquire("order:acme:key-1")
        await leases.release("order:acme:key-1")
    finally:
        await admin.close()
        await leases.close()


async def _slow_try_lease(conn, kind, name):
    """As try_lease, with the server granting the lock and then taking its time to answer."""
    row = await conn.fetchrow(
        "SELECT pg_try_advisory_lock($1, hashtext($2)) AS granted, pg_sleep(0.3)", int(kind), name
    )
    return row["granted"]


async def test_a_caller_cancelled_while_its_lock_query_is_out_leaves_no_lock_behind(
    database_url, monkeypatch
):
    """A bulk upload's TaskGroup cancels its other workers when one fails: a lock the server
    granted to a cancelled ask was held by nobody until the process restarted."""
    monkeypatch.setattr(leases_module, "try_lease", _slow_try_lease)
    ours, theirs = OrderLeases(database_url), OrderLeases(database_url)
    try:
        asking = asyncio.ensure_future(ours.try_acquire("order:acme:key-2"))
        await asyncio.sleep(0.1)
        asking.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asking
        monkeypatch.setattr(leases_module, "try_lease", _fast_try_lease)
        assert await _eventually(lambda: theirs.try_acquire("order:acme:key-2"))
        await theirs.release("order:acme:key-2")
        assert await ours.try_acquire("order:acme:key-2"), "this process may take it again"
        await ours.release("order:acme:key-2")
    finally:
        await ours.close()
        await theirs.close()


async def test_a_release_cancelled_while_it_waits_for_its_session_still_gives_the_lease_up(
    database_url,
):
    ours, theirs = OrderLeases(database_url), OrderLeases(database_url)
    try:
        assert await ours.try_acquire("order:acme:key-3")
        session = ours._session("order:acme:key-3")
        async with session.lock:  # another order's query holds the session
            releasing = asyncio.ensure_future(ours.release("order:acme:key-3"))
            await asyncio.sleep(0.05)
            releasing.cancel()
            with pytest.raises(asyncio.CancelledError):
                await releasing
        assert await _eventually(lambda: theirs.try_acquire("order:acme:key-3"))
        await theirs.release("order:acme:key-3")
        assert await ours.try_acquire("order:acme:key-3")
        await ours.release("order:acme:key-3")
    finally:
        await ours.close()
        await theirs.close()


_fast_try_lease = leases_module.try_lease


async def _eventually(ask, within_s: float = 3.0) -> bool:
    deadline = asyncio.get_running_loop().time() + within_s
    while asyncio.get_running_loop().time() < deadline:
        if await ask():
            return True
        await asyncio.sleep(0.05)
    return False
