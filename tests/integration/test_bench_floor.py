"""bench/floor.py, intake's yardstick, keeps the promises it is measured for: a request without
a key writes nothing, and an order the vendor gave no answer for is answered 409 on replay,
never a 500 or a second charge."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer

from bench.floor import floor_app
from tests.harness import order_body, sandbox

MAX_MINOR = 1_000_000


@pytest.fixture
async def failing_vendor() -> AsyncIterator[str]:
    async with sandbox("seed=1,error_5xx=1.0") as (url, _):
        yield url


async def _client(database_url: str, vendor_url: str) -> TestClient:
    client = TestClient(TestServer(floor_app(database_url, vendor_url, MAX_MINOR)))
    await client.start_server()
    return client


async def test_an_order_without_a_key_is_refused_and_nothing_is_written(
    database_url: str, failing_vendor: str
) -> None:
    client = await _client(database_url, failing_vendor)
    try:
        answer = await client.post("/orders", json=order_body())
        assert answer.status == 400
        assert "idempotency_key" in (await answer.json())["error"]
    finally:
        await client.close()
    conn = await asyncpg.connect(database_url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM floor_requests") == 0
    finally:
        await conn.close()


async def test_an_order_the_vendor_did_not_answer_is_502_then_409_on_replay_never_sent_twice(
    database_url: str, failing_vendor: str
) -> None:
    client = await _client(database_url, failing_vendor)
    try:
        first = await client.post("/orders", json=order_body("floor-1"))
        replay = await client.post("/orders", json=order_body("floor-1"))
        assert (first.status, replay.status) == (502, 409)
    finally:
        await client.close()
    conn = await asyncpg.connect(database_url)
    try:
        attempts = await conn.fetchval("SELECT count(*) FROM floor_attempts")
        answers = await conn.fetchval("SELECT count(*) FROM floor_answers")
    finally:
        await conn.close()
    assert (attempts, answers) == (1, 0)
