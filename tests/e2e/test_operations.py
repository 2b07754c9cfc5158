import asyncio

import pytest
from aiohttp.test_utils import TestClient, TestServer

from ledger.config import Settings
from ledger.http.app import create_app
from ledger.log import store
from ledger.log.leases import LeaseKind, release, try_lease
from tests.factories import order_requested
from tests.harness import scraped


async def test_healthz_says_the_process_is_up(client):
    response = await client.get("/healthz")
    assert response.status == 200
    assert await response.json() == {"status": "ok"}


async def test_readyz_checks_database_migrations_and_projection_lag(client):
    response = await client.get("/readyz")
    body = await response.json()
    assert response.status == 200, body
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["pending_migrations"] == []
    assert body["checks"]["projection_lag_events"] == {"orders": 0, "discrepancies": 0, "gl": 0}


async def test_readyz_fails_while_a_projection_lags_beyond_the_threshold(database_url):
    settings = Settings(ready_max_lag_events=1, sandbox_port=0)
    app = create_app(settings, database_url, background=False)  # no runner: lag only grows
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        from ledger.http.keys import POOL

        for i in range(3):
            await store.append(app[POOL], f"order:c:k{i}", [order_requested(f"k{i}")], 0)
        response = await client.get("/readyz")
        assert response.status == 503
        lags = (await response.json())["checks"]["projection_lag_events"]
        assert lags == {"orders": 3, "discrepancies": 3, "gl": 3}


async def test_metrics_parse_with_prometheus_client_and_expose_appends_lag_and_latency(client):
    from ledger.http.keys import POOL

    await store.append(client.app[POOL], "order:c:k", [order_requested("k")], 0)
    await client.get("/healthz")
    lagging = ("ledger_projection_lag_events", frozenset({("projection", "orders")}))
    for _ in range(100):  # the runner wakes on NOTIFY; wait until it has applied the event
        samples = scraped(await (await client.get("/metrics")).text())
        if samples.get(lagging) == 0:
            break
        await asyncio.sleep(0.05)
    assert samples[lagging] == 0
    names = {name for name, _ in samples}
    assert {"ledger_projection_lag_seconds", "ledger_events_appended_total"} <= names
    healthz = frozenset({("route", "/healthz"), ("method", "GET"), ("status", "200")})
    assert samples[("ledger_http_request_seconds_count", healthz)] >= 1
    assert {"process_cpu_seconds_total", "python_info"} <= names, "process and Python metrics"
    # The order placed above is pending: counted, with its age.
    assert samples[("ledger_orders_pending", frozenset())] == 1
    assert samples[("ledger_oldest_pending_order_age_seconds", frozenset())] >= 0


async def test_label_values_are_escaped_as_the_text_format_requires(client):
    """A route the client made up cannot break the exposition (backslash, quote, newline)."""
    from ledger.metrics import METRICS

    METRICS.webhook_rejections.labels('a\\b"c\nd', "check").inc()
    samples = scraped(await (await client.get("/metrics")).text())
    key = (
        "ledger_webhook_rejections_total",
        frozenset({("vendor", 'a\\b"c\nd'), ("check", "check")}),
    )
    assert samples[key] >= 1


@pytest.mark.parametrize(
    ("method", "path", "status"), [("GET", "/nope", 404), ("POST", "/healthz", 405)]
)
async def test_unknown_routes_get_problem_json_with_a_request_id(client, method, path, status):
    response = await client.request(method, path, headers={"X-Request-Id": "req-123"})
    assert response.status == status
    assert response.content_type == "application/problem+json"
    body = await response.json()
    assert body["status"] == status and body["request_id"] == "req-123"
    assert response.headers["X-Request-Id"] == "req-123"


async def test_metrics_show_each_vendors_breaker_state(running):
    client, _, _ = running
    samples = scraped(await (await client.get("/metrics")).text())
    state = "ledger_vendor_breaker_state"
    assert samples[(state, frozenset({("vendor", "sandbox"), ("state", "closed")}))] == 1
    assert samples[(state, frozenset({("vendor", "sandbox"), ("state", "open")}))] == 0


async def test_readyz_names_a_projection_whose_checkpoint_has_not_moved_while_events_wait(
    database_url,
):
    """Issue 12: one event behind for good is under any lag threshold, and still a stuck node."""
    settings = Settings(ready_stall_s=0.3, sandbox_port=0)
    app = create_app(settings, database_url, background=False)  # no runner: nothing moves
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        from ledger.http.keys import POOL

        first = await client.get("/readyz")
        await store.append(app[POOL], "order:c:stuck", [order_requested("stuck")], 0)
        soon = await client.get("/readyz")
        await asyncio.sleep(0.4)
        later = await client.get("/readyz")
        body = await later.json()
    assert (first.status, soon.status) == (200, 200)  # lag 1 is well under the threshold
    assert later.status == 503, body
    stalled = body["checks"]["projections_stalled"]
    assert sorted(stalled) == ["discrepancies", "gl", "orders"]
    assert stalled["orders"]["at_position"] == 0 and stalled["orders"]["lag_events"] == 1
    assert stalled["orders"]["for_s"] >= 0.3


async def test_a_projection_being_rebuilt_or_held_by_an_open_transaction_is_not_stalled(
    database_url,
):
    """Its checkpoint stands still for a reason: a rebuild on some node (its lease is seen in
    pg_locks), or an older transaction still open, which no runner may read past."""
    settings = Settings(ready_stall_s=0.2, sandbox_port=0)
    app = create_app(settings, database_url, background=False)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        from ledger.http.keys import POOL

        pool = app[POOL]
        async with pool.acquire() as rebuilder, pool.acquire() as writer:
            assert await try_lease(rebuilder, LeaseKind.REBUILD, "gl")
            open_write = writer.transaction()
            await open_write.start()
            await writer.execute("SELECT pg_current_xact_id()")  # an xid, as a writer holds
            await client.get("/readyz")
            await store.append(pool, "order:c:waits", [order_requested("waits")], 0)
            await asyncio.sleep(0.3)
            held = await (await client.get("/readyz")).json()
            await open_write.rollback()
            await asyncio.sleep(0.3)
            await client.get("/readyz")
            await asyncio.sleep(0.3)
            freed = await (await client.get("/readyz")).json()
            await release(rebuilder, LeaseKind.REBUILD, "gl")
    assert held["status"] == "ready", held
    assert held["checks"]["projections_rebuilding"] == ["gl"]
    assert held["checks"]["projection_lag_events"]["orders"] == 1
    # Once the transaction ends the event can be applied, and nothing applies it.
    assert sorted(freed["checks"]["projections_stalled"]) == ["discrepancies", "orders"]
