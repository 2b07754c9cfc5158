"""Order leases survive their connection dying: a release never raises for it and the order
can be leased again at once (before, the process refused the key with 409 until a restart)."""

from __future__ import annotations

import asyncpg

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
