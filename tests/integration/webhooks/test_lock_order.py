"""The deliverer's record takes an endpoint's locks in the order everyone else does, and a
recover takes the deliveries' locks in one order, whatever plan finds them.

Every change to an endpoint (PATCH, DELETE, rotate, disable) locks its row, then appends to its
stream; a recover queues deliveries (which key-share-locks the row) before appending. Recording
a delivery attempt touches the row and the stream too; were it to append first and lock the row
after, it and the other would each wait for what the other holds (the version it appended
uncommitted, the row): PostgreSQL would abort one of them as a deadlock.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from ledger.log import events as ev
from ledger.log import store
from ledger.orders.vault import CardVault
from ledger.webhooks import endpoints, replay
from ledger.webhooks.deliveries import Deliverer, DeliveryPolicy, Sent

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
POLICY = DeliveryPolicy(
    allow_private=True, timeout_s=1.0, retry_base_s=1.0, retry_window_s=3600.0,
    disable_after_s=86400.0,
)  # fmt: skip


VAULT = CardVault(os.urandom(32))


async def _endpoint(conn: asyncpg.Connection) -> str:
    created = ev.WebhookEndpointCreated(
        endpoint_id="we_lockorder",
        client_id="acme",
        url="https://hooks.example/lock-order",
        events=["order.fulfilled"],
        description="",
        secret_id="ws_1",
        created_at=NOW,
    )
    await endpoints.create(conn, VAULT, created, "whsec_" + "a" * 32, {})
    return created.endpoint_id


@pytest.fixture
async def conns(database_url: str) -> AsyncIterator[list[asyncpg.Connection]]:
    """Three sessions: the other writer, the deliverer's, and one that watches both."""
    opened = [await asyncpg.connect(database_url) for _ in range(3)]
    yield opened
    for conn in opened:
        await conn.close()


async def _one_pending(conn: asyncpg.Connection, endpoint_id: str) -> None:
    """evt_1 queued for the endpoint: an attempt is recorded against its delivery row."""
    await conn.execute(
        """INSERT INTO webhook_events (id, type, client_id, ordering_key, seq, occurred_at,
               payload) VALUES ('evt_1', 'order.fulfilled', 'acme', 'o-0', 1, $1, '')""",
        NOW,
    )
    await conn.execute(
        """INSERT INTO webhook_deliveries (endpoint_id, event_id, ordering_key, seq,
               occurred_at, queued_at, next_attempt_at)
           VALUES ($1, 'evt_1', 'o-0', 1, $2, $2, $2)""",
        endpoint_id,
        NOW,
    )


async def _record_waiting_on_a_lock(
    recording: asyncpg.Connection, observer: asyncpg.Connection, endpoint_id: str, sent: Sent
) -> asyncio.Task[None]:
    """The deliverer recording an attempt of a queued delivery (_one_pending), started and seen
    waiting on a lock."""
    deliverer = Deliverer(VAULT, POLICY, lambda: NOW, lambda: 0.5)
    due = {"endpoint_id": endpoint_id, "event_id": "evt_1", "attempts": 0, "queued_at": NOW}
    record = asyncio.create_task(deliverer._record(recording, due, sent, NOW))
    deadline = asyncio.get_running_loop().time() + 10
    query = "SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = $1"
    while not await observer.fetchval(query, recording.get_server_pid()):
        assert not record.done(), "the record ran through without waiting for the lock held"
        assert asyncio.get_running_loop().time() < deadline, "the record waited on no lock"
        await asyncio.sleep(0.01)
    return record


async def _stream(observer: asyncpg.Connection, endpoint_id: str) -> list[str]:
    return [
        e.type for e in await store.read_stream(observer, endpoints.endpoint_stream(endpoint_id))
    ]


async def test_a_delivery_recorded_while_the_endpoint_is_being_deleted_waits_for_the_delete(
    conns: list[asyncpg.Connection],
) -> None:
    deleting, recording, observer = conns
    endpoint_id = await _endpoint(deleting)
    await _one_pending(deleting, endpoint_id)
    # The DELETE has taken the endpoint's row lock (its first step) when the attempt's record
    # begins: the record must wait for it before writing anything the DELETE needs.
    delete_tx = deleting.transaction()
    await delete_tx.start()
    await deleting.execute("SELECT 1 FROM webhook_endpoints WHERE id = $1 FOR UPDATE", endpoint_id)
    record = await _record_waiting_on_a_lock(
        recording, observer, endpoint_id, Sent(500, 12, "HTTP 500", None)
    )
    deleted = ev.WebhookEndpointDeleted(deleted_at=NOW, actor="key:test")
    await endpoints.delete(deleting, endpoint_id, deleted, {})
    await delete_tx.commit()
    await asyncio.wait_for(record, 10)

    assert await _stream(observer, endpoint_id) == [
        "WebhookEndpointCreated",
        "WebhookEndpointDeleted",
        "WebhookDeliveryAttempted",
    ]


async def test_an_attempt_that_disables_its_endpoint_waits_for_a_recover_queueing_to_it(
    conns: list[asyncpg.Connection],
) -> None:
    recovering, recording, observer = conns
    endpoint_id = await _endpoint(recovering)
    await _one_pending(recovering, endpoint_id)
    await recovering.execute(
        """INSERT INTO webhook_events (id, type, client_id, ordering_key, seq, occurred_at,
               payload) VALUES ('evt_missed', 'order.fulfilled', 'acme', 'o-1', 1, $1, '')""",
        NOW,
    )
    # A recover has queued a missed delivery (its foreign key share-locks the endpoint's row)
    # and is about to append its WebhookEventsRequeued.
    recover_tx = recovering.transaction()
    await recover_tx.start()
    await recovering.execute(
        """INSERT INTO webhook_deliveries (endpoint_id, event_id, ordering_key, seq,
               occurred_at, queued_at, next_attempt_at)
           VALUES ($1, 'evt_missed', 'o-1', 1, $2, $2, $2)""",
        endpoint_id,
        NOW,
    )
    # The attempt being recorded answered 410 Gone: it disables the endpoint.
    record = await _record_waiting_on_a_lock(
        recording, observer, endpoint_id, Sent(410, 12, "HTTP 410", None)
    )
    requeued = ev.WebhookEventsRequeued(
        reason="recover", count=1, requested_at=NOW, actor="key:test", since=NOW
    )
    await store.append_observed(
        recovering, endpoints.endpoint_stream(endpoint_id), [requeued], metadata={}
    )
    await recover_tx.commit()
    await asyncio.wait_for(record, 10)

    assert await _stream(observer, endpoint_id) == [
        "WebhookEndpointCreated",
        "WebhookEventsRequeued",
        "WebhookDeliveryAttempted",
        "WebhookEndpointDisabled",
    ]


async def _queued(conn: asyncpg.Connection, endpoint_id: str, count: int) -> list[str]:
    """`count` deliveries, stored in event id order but happening in the reverse order, so a
    scan of the table and one of the listing index meet them in opposite orders."""
    ids = [f"evt_{n}" for n in range(1, count + 1)]
    for n, event_id in enumerate(ids):
        occurred = NOW - timedelta(minutes=n)
        await conn.execute(
            """INSERT INTO webhook_events (id, type, client_id, ordering_key, seq, occurred_at,
                   payload) VALUES ($1, 'order.fulfilled', 'acme', $1, 1, $2, '')""",
            event_id,
            occurred,
        )
        await conn.execute(
            """INSERT INTO webhook_deliveries (endpoint_id, event_id, ordering_key, seq,
                   occurred_at, status, queued_at, next_attempt_at)
               VALUES ($1, $2, $2, 1, $3, 'delivered', $3, $3)""",
            endpoint_id,
            event_id,
            occurred,
        )
    return ids


# One plan per recover: a scan of the table, and the listing index (endpoint, occurred_at).
TABLE_SCAN = "SET enable_indexscan = off; SET enable_bitmapscan = off"
INDEX_SCAN = "SET enable_seqscan = off; SET enable_bitmapscan = off"


async def test_two_recovers_of_one_endpoint_whose_plans_differ_do_not_deadlock(
    database_url: str, conns: list[asyncpg.Connection]
) -> None:
    holding, observer, by_table = conns
    by_index = await asyncpg.connect(database_url)
    try:
        endpoint_id = await _endpoint(holding)
        ids = await _queued(holding, endpoint_id, 6)
        await by_table.execute(TABLE_SCAN)
        await by_index.execute(INDEX_SCAN)
        plan = await by_index.fetchval(
            "EXPLAIN SELECT 1 FROM webhook_deliveries WHERE endpoint_id = $1 AND occurred_at >= $2",
            endpoint_id,
            NOW - timedelta(days=1),
        )
        assert "webhook_deliveries_listed" in plan, plan
        endpoint = await endpoints.find(observer, "acme", endpoint_id)
        assert endpoint is not None

        # A session holds the middle delivery, so each recover stops there having locked what
        # its own plan met first: evt_1 and evt_2 by the table, evt_6 down to evt_4 by index.
        hold = holding.transaction()
        await hold.start()
        await holding.execute(
            "SELECT 1 FROM webhook_deliveries WHERE event_id = $1 FOR UPDATE", ids[2]
        )
        recovers = [
            asyncio.create_task(
                replay.recover(conn, endpoint, NOW - timedelta(days=1), NOW, "key:test", {})
            )
            for conn in (by_table, by_index)
        ]
        # Both wait, the first for the session's transaction, the second (PostgreSQL queues
        # waiters for a row) for the first, which has taken the row's tuple lock.
        waiting = "SELECT count(DISTINCT pid) FROM pg_locks WHERE NOT granted AND pid = ANY($1)"
        pids = [by_table.get_server_pid(), by_index.get_server_pid()]
        deadline = asyncio.get_running_loop().time() + 10
        while await observer.fetchval(waiting, pids) < 2:
            assert not any(r.done() for r in recovers), "a recover did not wait for the row"
            assert asyncio.get_running_loop().time() < deadline, "the recovers waited on no lock"
            await asyncio.sleep(0.01)
        # Released, the row goes to one recover, which goes on to rows the other holds.
        await hold.rollback()
        counts = await asyncio.wait_for(asyncio.gather(*recovers), 30)
    finally:
        await by_index.close()

    assert counts == [6, 6]
    assert await _stream(observer, endpoint_id) == [
        "WebhookEndpointCreated",
        "WebhookEventsRequeued",
        "WebhookEventsRequeued",
    ]
