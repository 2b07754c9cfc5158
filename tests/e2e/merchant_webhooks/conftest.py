"""The service, the sandbox vendor and a merchant's receiver, all over loopback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import NamedTuple

import pytest
from aiohttp.test_utils import TestClient

from ledger.auth import create_key
from ledger.http.keys import POOL
from tests.e2e.merchant_webhooks.receiver import Receiver, receiving
from tests.harness import order_body, sandbox, service, service_settings


class Hooks(NamedTuple):
    client: TestClient
    headers: dict[str, str]
    url: str
    receiver: Receiver
    vendor_url: str

    async def endpoint(self, headers: dict[str, str] | None = None, **body) -> dict:
        """Register the receiver (or body's url); the answer, secret included."""
        answer = await self.client.post(
            "/api/v1/webhook-endpoints",
            json={"url": self.url} | body,
            headers=headers or self.headers,
        )
        assert answer.status == 201, await answer.text()
        return await answer.json()

    async def order(self, key: str, status: int = 201) -> dict:
        placed = await self.client.post(
            "/api/v1/orders", json=order_body(key), headers=self.headers
        )
        assert placed.status == status, await placed.text()
        return await placed.json()

    async def get(self, path: str, headers: dict[str, str] | None = None) -> dict:
        answer = await self.client.get(path, headers=headers or self.headers)
        assert answer.status == 200, await answer.text()
        return await answer.json()

    async def until_shows(self, path: str, predicate, within_s: float = 10.0) -> dict:
        """GET path until predicate(body) holds; the body. The service records an attempt
        just after the receiver answers it, so tests wait for the record, not the arrival."""
        deadline = asyncio.get_running_loop().time() + within_s
        while True:
            body = await self.get(path)
            if predicate(body):
                return body
            assert asyncio.get_running_loop().time() < deadline, f"{path} still shows {body}"
            await asyncio.sleep(0.05)

    async def until_events(self, predicate, query: str = "") -> list:
        """The webhook-events page's items once predicate(items) holds."""
        page = await self.until_shows(
            f"/api/v1/webhook-events{query}", lambda body: predicate(body["items"])
        )
        return page["items"]

    async def stream(self, endpoint_id: str) -> list[str]:
        """The endpoint's stream in the log: the types of its events, in order."""
        rows = await self.client.app[POOL].fetch(
            "SELECT type FROM events WHERE stream_id = $1 ORDER BY version",
            f"webhook-endpoint:{endpoint_id}",
        )
        return [r["type"] for r in rows]

    async def key(self, *scopes: str, client_id: str = "acme") -> dict[str, str]:
        async with self.client.app[POOL].acquire() as conn:
            _, key = await create_key(
                conn, name=f"{client_id}-{len(scopes)}", scopes=scopes, client_id=client_id
            )
        return {"Authorization": f"Bearer {key}"}


# Retries here start after 0.2 s (the default is 5 s); receivers on loopback are allowed.
HOOK_SETTINGS = {"webhook_allow_private": True, "webhook_retry_base_s": 0.2}


@asynccontextmanager
async def hooks_with(
    database_url: str, data_dir, fulfil_delay_ms: int = 0, **overrides
) -> AsyncIterator[Hooks]:
    settings = HOOK_SETTINGS | overrides
    async with (
        sandbox(fulfil_delay_ms=fulfil_delay_ms) as (vendor_url, _),
        receiving() as (url, receiver),
        service(database_url, service_settings(vendor_url, data_dir, **settings)) as (
            client,
            headers,
        ),
    ):
        yield Hooks(client, headers, url, receiver, vendor_url)


@pytest.fixture
async def hooks(database_url: str, tmp_path) -> AsyncIterator[Hooks]:
    async with hooks_with(database_url, tmp_path) as running:
        yield running
