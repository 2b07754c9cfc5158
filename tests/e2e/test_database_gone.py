"""The database going away is an expected state: 503 with Retry-After, never a 500, and the
order a client retries with the same key is there exactly once (issue 12, first part)."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from tests.harness import (
    answer_to_raising,
    order_body,
    sandbox,
    sandbox_stats,
    service,
    service_settings,
)

GONE = [
    ConnectionRefusedError(111, "Connect call failed"),
    TimeoutError(),
    asyncpg.exceptions.CannotConnectNowError("the database system is starting up"),
    asyncpg.exceptions.AdminShutdownError("terminating connection due to administrator command"),
    asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed in the middle"),
    asyncpg.InterfaceError("cannot call Transaction.__aexit__(): the underlying connection"),
    asyncpg.InternalClientError("cannot switch to state 15; another operation (2) is in progress"),
]


@pytest.mark.parametrize("error", GONE, ids=lambda e: type(e).__name__)
async def test_every_way_asyncpg_says_the_database_is_gone_is_a_503_with_retry_after(error):
    status, headers, body = await answer_to_raising(error)
    assert status == 503 and headers["Retry-After"] == "2"
    assert body["code"] == "database_unavailable"


async def test_orders_posted_while_connections_are_killed_get_503s_not_500s_and_land_once(
    database_url, tmp_path
):
    async with (
        sandbox() as (url, _),
        service(database_url, service_settings(url, tmp_path)) as (
            client,
            headers,
        ),
    ):
        killer = await asyncpg.connect(database_url)
        database = await killer.fetchval("SELECT current_database()")
        statuses: list[int] = []

        async def place(key: str) -> None:
            for _ in range(50):
                response = await client.post(
                    "/api/v1/orders", json=order_body(key), headers=headers
                )
                statuses.append(response.status)
                if response.status in (200, 201, 202):
                    return
                assert response.status in (409, 503), await response.text()
                if response.status == 503:
                    assert response.headers["Retry-After"] == "2"
                await asyncio.sleep(0.05)

        async def kill_connections() -> None:
            for _ in range(10):
                await killer.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = $1 AND pid <> pg_backend_pid()",
                    database,
                )
                await asyncio.sleep(0.05)

        keys = [f"killed-conn-{i:03d}" for i in range(20)]
        await asyncio.gather(kill_connections(), *(place(key) for key in keys))
        await killer.close()
        assert 500 not in statuses
        assert 503 in statuses, "no request met a killed connection; the test proved nothing"
        for key in keys:
            got = await client.get(f"/api/v1/orders/{key}", headers=headers)
            assert got.status == 200
        assert (await sandbox_stats(url))["duplicate_references"] == []
