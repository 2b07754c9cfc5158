"""The service and the sandbox vendor, both served over real HTTP on loopback."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from multidict import CIMultiDictProxy
from prometheus_client.parser import text_string_to_metric_families

from ledger.auth import create_key
from ledger.config import Settings
from ledger.http.app import create_app
from ledger.http.keys import POOL
from ledger.http.middleware import canonical_request
from ledger.http.runtime.server import ProblemAppRunner
from ledger.vendors.sandbox.faults import parse_faults
from ledger.vendors.sandbox.server import SandboxConfig, create_sandbox_app
from ledger.webhooks.signatures import sign_standard

TEST_SECRETS_KEY = base64.b64encode(bytes(range(32))).decode()
TEST_WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"sandbox-webhook-test-secret-32by").decode()


@asynccontextmanager
async def sandbox(
    faults: str = "",
    port: int = 0,
    webhook_url: str | None = None,
    fulfil_delay_ms: int = 0,
    clock: Callable[[], datetime] | None = None,
    **dialect: Any,
) -> AsyncIterator[tuple[str, TestServer]]:
    """The sandbox vendor over loopback; `dialect="tango"` (with `list_cap=`, `api_key=`)
    makes it that vendor's double."""
    config = SandboxConfig(
        faults=parse_faults(faults),
        **dialect,
        fulfil_delay_ms=fulfil_delay_ms,
        webhook_url=webhook_url,
        webhook_secret=TEST_WEBHOOK_SECRET if webhook_url else None,
    )
    app = create_sandbox_app(config, clock=clock) if clock else create_sandbox_app(config)
    server = TestServer(app, host="127.0.0.1", port=port)
    await server.start_server()
    try:
        yield f"http://127.0.0.1:{server.port}", server
    finally:
        await server.close()


class VendorSwitch:
    """A front for the sandbox that a test can turn: while `down`, every request answers
    `down_status` (503: an outage; 401: rotated credentials, 404: a proxy), and with `hang_s`
    each request reaches the vendor but its answer comes that much later (a timeout after
    commit); otherwise requests pass through unchanged."""

    def __init__(self, upstream: str) -> None:
        self.upstream, self.down, self.down_status, self.hang_s = upstream, False, 503, 0.0
        self.refused = 0

    async def forward(self, request: web.Request) -> web.Response:
        if self.down:
            self.refused += 1
            error = {"error": {"code": f"http_{self.down_status}"}}
            return web.json_response(error, status=self.down_status)
        async with (
            aiohttp.ClientSession() as session,
            session.request(
                request.method,
                f"{self.upstream}{request.path_qs}",
                data=await request.read(),
                headers={k: v for k, v in request.headers.items() if k.lower() != "host"},
            ) as answer,
        ):
            body = await answer.read()
            await asyncio.sleep(self.hang_s)
            return web.Response(status=answer.status, body=body, content_type=answer.content_type)


@asynccontextmanager
async def switchable(upstream: str) -> AsyncIterator[tuple[str, VendorSwitch]]:
    switch = VendorSwitch(upstream)
    app = web.Application()
    app.router.add_route("*", "/{path:.*}", switch.forward)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield f"http://127.0.0.1:{server.port}", switch
    finally:
        await server.close()


async def lose_at_vendor(vendor_url: str, vendor_order_id: str) -> None:
    """The sandbox forgets an order without a webhook: the next run finds it missing there."""
    async with (
        aiohttp.ClientSession() as session,
        session.delete(f"{vendor_url}/_admin/orders/{vendor_order_id}") as deleted,
    ):
        assert deleted.status == 204


def window_around_now(now: datetime) -> dict[str, str]:
    """A reconciliation window from an hour before `now` to an hour after."""
    return {
        "from": (now - timedelta(hours=1)).isoformat(),
        "to": (now + timedelta(hours=1)).isoformat(),
    }


async def sandbox_stats(url: str) -> dict:
    async with aiohttp.ClientSession() as session, session.get(f"{url}/_admin/stats") as r:
        return await r.json()


def scraped(text: str) -> dict[tuple[str, frozenset], float]:
    """/metrics as prometheus_client's parser reads it: (sample name, labels) -> value. A
    scrape it cannot parse fails here, as it would fail Prometheus."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def service_settings(sandbox_url: str, data_dir, **overrides) -> Settings:
    values = {
        "sandbox_port": 0,
        "sandbox_url": sandbox_url,
        "data_dir": data_dir,
        "secrets_key": TEST_SECRETS_KEY,
        "poll_interval_s": 0.05,
        "sync_budget_s": 3.0,
        "vendor_attempt_timeout_s": 1.0,
        "completer_backoff_s": 0.05,
        "schedules": False,  # no nightly run writing events in the middle of a test
        "sandbox_webhook_secret": TEST_WEBHOOK_SECRET,
    }
    values.update(overrides)
    return Settings(**values)


class ServiceTestServer(TestServer):
    """aiohttp's test server on the runner `serve` uses (requests its parser refuses are
    answered as problems)."""

    async def _make_runner(self, **kwargs) -> ProblemAppRunner:
        return ProblemAppRunner(self.app, **kwargs)


@asynccontextmanager
async def service(
    database_url: str, settings: Settings, port: int = 0, migrate_dsn: str | None = None
) -> AsyncIterator[tuple[TestClient, dict]]:
    """A running service and the headers of an orders:write key for client "acme"."""
    app = create_app(settings, database_url, migrate_dsn=migrate_dsn)
    async with TestClient(ServiceTestServer(app, host="127.0.0.1", port=port)) as client:
        async with app[POOL].acquire() as conn:
            _, key = await create_key(conn, name="acme", scopes=["orders:write"])
        yield client, {"Authorization": f"Bearer {key}"}


async def wait_until_terminal(client: TestClient, headers: dict, keys: list[str], within_s: float):
    """Poll GET until every order is terminal; return their bodies by key."""
    deadline = asyncio.get_running_loop().time() + within_s
    results: dict[str, dict] = {}
    pending = list(keys)
    while pending and asyncio.get_running_loop().time() < deadline:
        for key in list(pending):
            response = await client.get(f"/api/v1/orders/{key}", headers=headers)
            body = await response.json()
            if response.status == 200 and body["status"] != "pending":
                results[key] = body
                pending.remove(key)
        if pending:
            await asyncio.sleep(0.1)
    return results, pending


def order_body(key: str | None = None, **fields) -> dict:
    body = {"customer_id": "cust-1", "brand_id": "amazon-us", "amount": "25.00", "currency": "USD"}
    if key is not None:
        body["idempotency_key"] = key
    body.update(fields)
    return body


def signed(
    body: bytes, webhook_id: str = "evt_1", timestamp: int | None = None, secret=TEST_WEBHOOK_SECRET
):
    stamp = int(time.time()) if timestamp is None else timestamp
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(stamp),
        "webhook-signature": sign_standard(secret, webhook_id, stamp, body),
        "Content-Type": "application/json",
    }


def webhook(reference: str, status: str = "fulfilled", webhook_id: str = "evt_1") -> bytes:
    data = {
        "vendor_order_id": "vo_x",
        "reference": reference,
        "status": status,
        "amount_minor": 2500,
        "currency": "USD",
    }
    return json.dumps({"id": webhook_id, "type": f"order.{status}", "data": data}).encode()


async def answer_to_raising(error: Exception) -> tuple[int, CIMultiDictProxy[str], dict]:
    """The status, headers and body the error middleware answers for a handler raising error."""

    async def handler(_request: web.Request) -> web.Response:
        raise error

    app = web.Application(middlewares=[canonical_request])
    app.router.add_get("/x", handler)
    async with TestClient(TestServer(app)) as client:
        response = await client.get("/x")
        return response.status, response.headers, await response.json()
