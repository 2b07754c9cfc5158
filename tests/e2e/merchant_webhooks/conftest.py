"""The service, the sandbox vendor and a merchant's receiver, all over loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import NamedTuple

import pytest
from aiohttp.test_utils import TestClient

from ledger.auth import create_key
from ledger.http.keys import POOL
from tests.e2e.merchant_webhooks.receiver import Receiver, receiving
from tests.harness import sandbox, service, service_settings


class Hooks(NamedTuple):
    client: TestClient
    headers: dict[str, str]
    url: str
    receiver: Receiver

    async def endpoint(self, headers: dict[str, str] | None = None, **body) -> dict:
        """Register the receiver (or body's url); the answer, secret included."""
        answer = await self.client.post(
            "/api/v1/webhook-endpoints",
            json={"url": self.url} | body,
            headers=headers or self.headers,
        )
        assert answer.status == 201, await answer.text()
        return await answer.json()

    async def key(self, *scopes: str, client_id: str = "acme") -> dict[str, str]:
        async with self.client.app[POOL].acquire() as conn:
            _, key = await create_key(
                conn, name=f"{client_id}-{len(scopes)}", scopes=scopes, client_id=client_id
            )
        return {"Authorization": f"Bearer {key}"}


# Retries here start after 0.2 s (the default is 5 s); receivers on loopback are allowed.
HOOK_SETTINGS = {"webhook_allow_private": True, "webhook_retry_base_s": 0.2}


@pytest.fixture
async def hooks(database_url: str, tmp_path) -> AsyncIterator[Hooks]:
    async with (
        sandbox() as (vendor_url, _),
        receiving() as (url, receiver),
        service(database_url, service_settings(vendor_url, tmp_path, **HOOK_SETTINGS)) as (
            client,
            headers,
        ),
    ):
        yield Hooks(client, headers, url, receiver)
