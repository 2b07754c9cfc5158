"""A vendor's free text (error codes and messages) holding NUL or other control characters is
recorded escaped: it never fails the append that records the attempt, which would leave the order
pending and the attempt unrecorded for ever. A webhook's names and statuses are not prose: one
holding a control character is refused as malformed, naming the field."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web
from aiohttp.test_utils import TestServer

from ledger.http.keys import POOL
from tests.harness import order_body, sandbox, service, service_settings, signed

# What a broken or hostile vendor may put in its text: NUL (which PostgreSQL's text and jsonb
# cannot hold), an escape sequence that would repaint an operator's terminal, a bare newline.
HOSTILE = "no such brand\x00\x1b[31m\nend"


@asynccontextmanager
async def vendor_answering(*answers: tuple[int, dict]) -> AsyncIterator[str]:
    """A vendor whose create-order calls get `answers` in turn, the last one from then on."""
    calls = 0

    async def create(_request: web.Request) -> web.Response:
        nonlocal calls
        status, body = answers[min(calls, len(answers) - 1)]
        calls += 1
        return web.json_response(body, status=status)

    app = web.Application()
    app.router.add_post("/v1/orders", create)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        await server.close()


async def test_control_characters_in_a_vendors_errors_are_recorded_escaped(database_url, tmp_path):
    outage = (503, {"error": {"code": "overloaded\x00"}})
    rejection = (422, {"error": {"code": "brand_not_found", "message": HOSTILE}})
    async with vendor_answering(outage, rejection) as url:
        settings = service_settings(url, tmp_path)
        async with service(database_url, settings) as (client, headers):
            answer = await client.post(
                "/api/v1/orders", json=order_body("hostile-1"), headers=headers
            )
            body = await answer.json()
            assert answer.status == 201, body
            assert body["status"] == "failed" and body["failure_reason"] == "brand_not_found"
            trail = await client.get("/api/v1/orders/hostile-1/events", headers=headers)
            events = {e["type"]: e["data"] for e in (await trail.json())["events"]}
    assert events["VendorCallFailed"]["detail"] == "overloaded\\x00"
    assert events["VendorResponseReceived"]["message"] == "no such brand\\x00\\x1b[31m\\x0aend"


async def test_a_webhook_whose_fields_hold_control_characters_is_refused_naming_the_field(
    database_url, tmp_path
):
    async with sandbox(fulfil_delay_ms=600_000) as (url, _):
        settings = service_settings(url, tmp_path, sync_budget_s=0.5, completer_backoff_s=60.0)
        async with service(database_url, settings) as (client, headers):
            await client.post("/api/v1/orders", json=order_body("hostile-2"), headers=headers)
            reference = await client.app[POOL].fetchval(
                "SELECT vendor_reference FROM order_references WHERE stream_id = $1",
                "order:acme:hostile-2",
            )
            data = {"vendor_order_id": "vo_1", "reference": reference, "status": "fulfilled\x00"}
            hook = json.dumps({"id": "evt_n", "type": "order.fulfilled", "data": data}).encode()
            sent = await client.post("/webhooks/sandbox", data=hook, headers=signed(hook, "evt_n"))
            problem = await sent.json()
            inbox = await client.app[POOL].fetch(
                "SELECT outcome, reason FROM vendor_webhook_inbox WHERE body_sha256 = $1",
                hashlib.sha256(hook).hexdigest(),
            )
            trail = await client.get("/api/v1/orders/hostile-2/events", headers=headers)
            types = [e["type"] for e in (await trail.json())["events"]]
    assert sent.status == 400 and problem["code"] == "malformed_webhook"
    assert problem["detail"] == "the webhook's status holds a control character"
    assert [tuple(row) for row in inbox] == [("refused", f"malformed_webhook: {problem['detail']}")]
    assert "WebhookReceived" not in types
