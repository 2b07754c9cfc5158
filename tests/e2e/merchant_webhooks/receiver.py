"""A merchant's webhook receiver over real HTTP on loopback: it records every delivery and
answers what the test scripts (a status per call, a Retry-After, a delay)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import NamedTuple

from aiohttp import web
from aiohttp.test_utils import TestServer


class Delivery(NamedTuple):
    headers: dict[str, str]
    body: bytes
    at: float  # time.monotonic() on arrival

    @property
    def event(self) -> dict:
        return json.loads(self.body)


class Receiver:
    def __init__(self) -> None:
        self.deliveries: list[Delivery] = []
        # Statuses to answer, in turn, for the next calls; then `status` for every other.
        self.script: list[int] = []
        self.status = 200
        self.retry_after: str | None = None
        self.refusal_body = b"no"  # what a status >= 400 answers with
        # Answer event ids listed here with `failing_status` (an order's first event failing).
        self.failing_ids: set[str] = set()
        self.failing_status = 500
        self.arrived = asyncio.Event()
        # While set to an unset event, every call waits for it before answering (a receiver
        # that hangs).
        self.hold: asyncio.Event | None = None

    async def handle(self, request: web.Request) -> web.Response:
        delivery = Delivery(dict(request.headers), await request.read(), time.monotonic())
        self.deliveries.append(delivery)
        self.arrived.set()
        if self.hold is not None:
            await self.hold.wait()
        if delivery.headers.get("webhook-id") in self.failing_ids:
            return web.Response(status=self.failing_status)
        status = self.script.pop(0) if self.script else self.status
        headers = {"Retry-After": self.retry_after} if self.retry_after and status >= 400 else {}
        body = b"ok" if status < 400 else self.refusal_body
        return web.Response(status=status, body=body, headers=headers)

    def of_type(self, kind: str) -> list[Delivery]:
        return [d for d in self.deliveries if d.event["type"] == kind]

    def ids(self) -> list[str]:
        return [d.headers["webhook-id"] for d in self.deliveries]

    def of_order(self, key: str) -> list[str]:
        """The types delivered about one order, in arrival order."""
        return [
            d.event["type"]
            for d in self.deliveries
            if d.event["type"].startswith("order.") and d.event["data"]["idempotency_key"] == key
        ]

    async def until(self, predicate, within_s: float = 15.0) -> None:
        """Wait until predicate(self) holds, failing the test past within_s."""
        deadline = asyncio.get_running_loop().time() + within_s
        while not predicate(self):
            remaining = deadline - asyncio.get_running_loop().time()
            assert remaining > 0, (
                f"receiver still waiting; got {[d.event['type'] for d in self.deliveries]}"
            )
            self.arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.arrived.wait(), min(remaining, 0.2))


@asynccontextmanager
async def receiving(port: int = 0) -> AsyncIterator[tuple[str, Receiver]]:
    receiver = Receiver()
    app = web.Application()
    app.router.add_post("/hooks", receiver.handle)
    server = TestServer(app, host="127.0.0.1", port=port)
    await server.start_server()
    try:
        yield f"http://127.0.0.1:{server.port}/hooks", receiver
    finally:
        await server.close()
