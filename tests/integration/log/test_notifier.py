"""Followers are woken by one NOTIFY per burst of appends, sent outside the appends."""

import asyncio

from ledger.log import store
from ledger.log.notifier import AppendNotifier
from tests.factories import order_requested


async def test_an_append_wakes_listeners_and_a_burst_shares_notifications(pool, database_url):
    notifier = AppendNotifier(database_url)
    stop = asyncio.Event()
    running = asyncio.create_task(notifier.run(stop))
    woken = asyncio.Event()
    async with pool.acquire() as listener:

        def on_notify(*_):
            woken.set()

        await listener.add_listener(store.NOTIFY_CHANNEL, on_notify)
        await asyncio.sleep(0.1)  # the notifier has subscribed
        await store.append(pool, "order:c:first", [order_requested("first")], 0)
        await asyncio.wait_for(woken.wait(), 5)

        await asyncio.sleep(0.2)
        before = notifier.sent
        await asyncio.gather(
            *(store.append(pool, f"order:c:k{i}", [order_requested(f"k{i}")], 0) for i in range(60))
        )
        await asyncio.sleep(0.2)
        burst = notifier.sent - before
        await listener.remove_listener(store.NOTIFY_CHANNEL, on_notify)
    stop.set()
    await running
    assert 1 <= burst < 30, f"{burst} notifications for 60 appends"


async def test_appends_themselves_send_no_notification(pool):
    """The NOTIFY trigger is gone: it serialised concurrent commits (migration 0006)."""
    got = asyncio.Event()
    async with pool.acquire() as listener:

        def on_notify(*_):
            got.set()

        await listener.add_listener(store.NOTIFY_CHANNEL, on_notify)
        await store.append(pool, "order:c:quiet", [order_requested("quiet")], 0)
        await asyncio.sleep(0.2)
        await listener.remove_listener(store.NOTIFY_CHANNEL, on_notify)
        assert not got.is_set()
        assert not await pool.fetchval(
            "SELECT count(*) FROM pg_trigger WHERE tgname = 'events_notify'"
        )
