"""A running service with the sandbox, and keys of each kind the console tests sign in with."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from aiohttp.test_utils import TestClient

from ledger.auth import create_key
from ledger.http.keys import POOL
from tests.harness import (
    lose_at_vendor,
    order_body,
    sandbox,
    service,
    service_settings,
    window_around_now,
)

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(page: str) -> str:
    found = _CSRF.search(page)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


@dataclass
class Console:
    client: TestClient
    headers: dict[str, str]  # an orders:write key of client acme, for placing orders
    vendor_url: str

    @property
    def base(self) -> str:
        return str(self.client.make_url("")).rstrip("/")

    async def key(self, *scopes: str, client_id: str = "acme") -> str:
        async with self.client.app[POOL].acquire() as conn:
            _, key = await create_key(
                conn, name=f"{client_id}-{'-'.join(scopes)}", scopes=scopes, client_id=client_id
            )
        return key

    async def gl_days(self, finance_key: str) -> dict[tuple[str, str, str], str]:
        """The API's GL amounts per (date, currency, state) with a count, once the GL
        projection shows a fulfilment (it follows the log a moment behind)."""
        days: dict[tuple[str, str, str], str] = {}
        for _ in range(200):
            api = await self.client.get(
                "/api/v1/gl/daily", headers={"Authorization": f"Bearer {finance_key}"}
            )
            days = {
                (d["business_date"], d["currency"], d["state"]): d["amount"]
                for d in (await api.json())["days"]
                if d["count"]
            }
            if "fulfilled" in {state for _, _, state in days}:
                return days
            await asyncio.sleep(0.05)
        raise AssertionError(f"the GL shows no fulfilment: {days}")

    async def open_discrepancy(self) -> str:
        """A fulfilled order the vendor then loses; a run finds it missing there. Its id."""
        placed = await self.client.post(
            "/api/v1/orders", json=order_body("console-lost-1"), headers=self.headers
        )
        assert placed.status == 201
        await lose_at_vendor(self.vendor_url, (await placed.json())["vendor_order_id"])
        ops = {"Authorization": f"Bearer {await self.key('admin', client_id='ops')}"}
        started = await self.client.post(
            "/api/v1/reconciliations", json=window_around_now(datetime.now(UTC)), headers=ops
        )
        assert started.status == 202
        for _ in range(200):
            listed = await self.client.get("/api/v1/discrepancies?state=open", headers=ops)
            items = (await listed.json())["items"]
            if items:
                return items[0]["id"]
            await asyncio.sleep(0.05)
        raise AssertionError("the run opened no discrepancy")

    async def sign_in(self, key: str) -> str:
        """Sign this client's cookie jar in with `key`; the CSRF token of the first page."""
        form = await self.client.get("/console/sign-in")
        token = csrf_of(await form.text())
        answer = await self.client.post(
            "/console/sign-in", data={"csrf_token": token, "api_key": key, "next": ""}
        )
        assert answer.status == 200, await answer.text()
        return csrf_of(await answer.text())


@pytest.fixture
async def console(database_url: str, tmp_path) -> AsyncIterator[Console]:
    async with (
        sandbox() as (vendor_url, _),
        service(database_url, service_settings(vendor_url, tmp_path)) as (client, headers),
    ):
        yield Console(client, headers, vendor_url)
