"""The order list's query: each filter alone and together, the keyset cursor, and only ever the
caller's own orders (projections.orders.order_list_query)."""

from datetime import timedelta

import msgspec

from ledger.log import events as ev
from ledger.log import store
from projections.checkpoints import ensure_projection
from projections.orders import OrdersProjection, order_list_query
from tests.factories import T0, order_requested
from tests.waiting import caught_up


async def listed(conn, client: str, **filters) -> list[str]:
    query = dict(status=None, start=None, end=None, customer_id=None, after=None, limit=50)
    rows = await conn.fetch(*order_list_query(client, **(query | filters)))
    return [r["idempotency_key"] for r in rows]


async def test_each_filter_alone_and_together_and_the_cursor_and_the_client(pool):
    for i in range(6):
        requested = msgspec.structs.replace(
            order_requested(f"k{i}", client="acme", requested_at=T0), customer_id=f"cust-{i % 2}"
        )
        events: list[ev.Event] = [requested]
        if i % 3 == 0:
            events.append(ev.OrderFailed(reason="x", source="manual", failed_at=T0))
        await store.append(pool, f"order:acme:k{i}", events, 0)
    await store.append(pool, "order:other:k9", [order_requested("k9", client="other")], 0)
    projection = OrdersProjection()
    async with pool.acquire() as conn:
        await ensure_projection(conn, projection)
        await caught_up(conn, projection)
        everything = await listed(conn, "acme")
        assert sorted(everything) == [f"k{i}" for i in range(6)]
        assert await listed(conn, "acme", status="failed") == [
            k for k in everything if k in ("k0", "k3")
        ]
        created = {
            r["idempotency_key"]: r["created_at"]
            for r in await conn.fetch("SELECT idempotency_key, created_at FROM orders_view")
        }
        third = created[everything[2]]
        assert await listed(conn, "acme", start=third) == everything[2:]
        assert await listed(conn, "acme", end=third) == everything[:2]
        assert await listed(conn, "acme", start=third, end=third + timedelta(0)) == []
        first_page = await conn.fetch(
            *order_list_query(
                "acme", status=None, start=None, end=None, customer_id=None, after=None, limit=2
            )
        )
        last = first_page[-1]
        after = (last["created_at"], last["stream_id"])
        assert await listed(conn, "acme", after=after) == everything[2:]
        assert await listed(conn, "acme", status="failed", after=after) == [
            k for k in everything[2:] if k in ("k0", "k3")
        ]
        odd = [k for k in everything if int(k[1:]) % 2]
        assert await listed(conn, "acme", customer_id="cust-1") == odd
        assert await listed(conn, "acme", customer_id="cust-1", status="failed") == ["k3"]
        assert await listed(conn, "acme", customer_id="nobody") == []
        assert await listed(conn, "other") == ["k9"]
        assert await listed(conn, "nobody") == []
