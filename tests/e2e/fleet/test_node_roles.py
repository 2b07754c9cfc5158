"""`serve --role`: an API node runs no background work and stays ready while the workers lag; a
worker node runs the followers under their leases and serves only the operations routes."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer

from ledger.config import ConfigError, Settings, load_settings
from ledger.database_url import with_setting
from ledger.db import KEEPALIVES, connect
from ledger.http.app import create_app
from ledger.http.keys import POOL
from ledger.http.workers import WORKERS_UP
from ledger.log import store
from ledger.log.leases import LeaseKind
from tests.factories import order_requested
from tests.harness import scraped


def role_settings(role: str, **overrides: object) -> Settings:
    return Settings(
        poll_interval_s=0.05, sandbox_port=0, schedules=False, node_role=role, **overrides
    )


async def test_an_api_node_runs_only_its_notifier_and_stays_ready_while_projections_lag(
    database_url,
):
    app = create_app(role_settings("api", ready_max_lag_events=1), database_url)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        assert sorted(app[WORKERS_UP]) == ["notifier"]
        for i in range(3):
            await store.append(app[POOL], f"order:c:k{i}", [order_requested(f"k{i}")], 0)
        await asyncio.sleep(0.3)  # a runner on this node would have applied them by now
        response = await client.get("/readyz")
        body = await response.json()
        assert response.status == 200, body
        assert body["checks"]["node_role"] == "api"
        assert body["checks"]["projection_lag_events"] == {"orders": 3, "discrepancies": 3, "gl": 3}
        # It still serves requests: the order routes are there (401 without a key, not 404).
        assert (await client.get("/api/v1/orders/k0")).status == 401


async def test_a_worker_node_applies_the_log_and_serves_only_operations_routes(database_url):
    app = create_app(role_settings("workers"), database_url)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        assert {
            "projection:orders",
            "completer",
            "confirmer",
            "sealer",
            "notifier",
            "webhook_deliveries",
        } <= set(app[WORKERS_UP])
        await store.append(app[POOL], "order:c:k", [order_requested("k")], 0)
        held = ("ledger_lease_held", frozenset({("lease", "orders")}))
        lagging = ("ledger_projection_lag_events", frozenset({("projection", "orders")}))
        for _ in range(100):
            samples = scraped(await (await client.get("/metrics")).text())
            if samples.get(lagging) == 0:
                break
            await asyncio.sleep(0.05)
        assert samples[lagging] == 0 and samples[held] == 1
        assert (await client.get("/readyz")).status == 200
        for path in ("/api/v1/orders/k", "/api/v1/gl/daily", "/openapi.json"):
            assert (await client.get(path)).status == 404, path


async def test_every_node_names_itself_to_the_database_in_the_sessions_holding_its_leases(
    database_url,
):
    dsn = with_setting(database_url, "application_name", "ledger workers host-a:7")
    app = create_app(role_settings("workers"), dsn)
    async with TestClient(TestServer(app, host="127.0.0.1")):
        conn = await asyncpg.connect(database_url)
        try:
            for _ in range(100):
                holders = await conn.fetch(
                    """SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a USING (pid)
                       WHERE l.locktype = 'advisory' AND l.classid = $1""",
                    int(LeaseKind.PROJECTION),
                )
                # The three projections, the confirmer, the webhook announcer and deliverer.
                if len(holders) == 6:
                    break
                await asyncio.sleep(0.05)
        finally:
            await conn.close()
        assert [r["application_name"] for r in holders] == ["ledger workers host-a:7"] * 6


async def test_lease_sessions_ask_the_server_to_probe_for_a_vanished_node(database_url):
    conn = await connect(database_url)
    try:
        row = await conn.fetchrow(
            """SELECT s.setting, s.source, a.client_addr IS NULL AS on_socket
               FROM pg_settings s, pg_stat_activity a
               WHERE s.name = 'tcp_keepalives_idle' AND a.pid = pg_backend_pid()"""
        )
    finally:
        await conn.close()
    # Over TCP the server probes after 10 s of silence; on a Unix socket (the embedded server)
    # the setting is taken and ignored, since the kernel tells of a dead peer at once.
    assert row["source"] == "client"
    assert row["setting"] == ("0" if row["on_socket"] else KEEPALIVES["tcp_keepalives_idle"])


def test_a_node_role_that_does_not_exist_is_refused_naming_the_setting():
    with pytest.raises(ConfigError, match="NODE_ROLE='web' is not one of all, api, workers"):
        load_settings({"NODE_ROLE": "web"})
    assert load_settings({"NODE_ROLE": "workers"}).node_role == "workers"
