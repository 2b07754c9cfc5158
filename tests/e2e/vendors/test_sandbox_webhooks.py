"""Signed webhooks from the sandbox vendor, received over real loopback HTTP and verified."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections import Counter
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from multidict import CIMultiDict

from ledger.vendors.sandbox.faults import FaultInjector, WebhookFaultInjector, parse_faults
from ledger.vendors.sandbox.server import SandboxConfig, create_sandbox_app
from ledger.webhooks.signatures import SignatureError, verify_standard

SECRET = "whsec_" + base64.b64encode(b"sandbox-webhooks-e2e-key-0123456").decode()
# Generous for a loaded CI box; deliveries on loopback take milliseconds.
WAIT_S = 10.0
# Short next to every delay under test, so polling adds little to what a test measures.
POLL_S = 0.02
ORDER = {"amount_minor": 2500, "currency": "USD", "brand_id": "amazon-us", "customer_id": "c-1"}


@dataclass
class Delivery:
    headers: CIMultiDict[str]
    body: bytes
    at: float  # monotonic arrival time
    event: dict

    def verify(self) -> str:
        return verify_standard(self.headers, self.body, [SECRET], now=int(time.time()))


@dataclass
class Harness:
    """The sandbox's API client and the webhook receiver's log."""

    statuses: list[int]  # answers the receiver gives first, then 200s
    got: list[Delivery] = field(default_factory=list)
    client: TestClient = field(init=False)

    async def receive(self, request: web.Request) -> web.Response:
        body = await request.read()
        got = Delivery(CIMultiDict(request.headers), body, time.monotonic(), json.loads(body))
        self.got.append(got)
        return web.Response(status=self.statuses.pop(0) if self.statuses else 200)

    async def create(self, ref: str) -> dict:
        resp = await self.client.post("/v1/orders", json=ORDER | {"reference": ref},
                                      headers={"Idempotency-Key": ref})  # fmt: skip
        assert resp.status in (200, 201)
        return await resp.json()

    async def stats(self) -> dict:
        return await (await self.client.get("/_admin/stats")).json()

    async def settled(self, events: int = 0) -> dict:
        """Stats once `events` exist and none is queued, held or retrying (all delivered)."""
        async with asyncio.timeout(WAIT_S):
            while True:
                stats = await self.stats()
                if stats["webhooks_events"] >= events and not stats["webhooks_in_flight"]:
                    return stats
                await asyncio.sleep(POLL_S)


def counts(stats: dict, *names: str) -> tuple[int, ...]:
    return tuple(stats[f"webhooks_{name}"] for name in names)


@asynccontextmanager
async def sandbox(faults: str = "", statuses: tuple[int, ...] = (), **config: object):
    h = Harness(list(statuses))
    hooks = web.Application()
    hooks.router.add_post("/webhooks/sandbox", h.receive)
    async with TestServer(hooks, host="127.0.0.1") as hook_server:
        options = {"webhook_url": str(hook_server.make_url("/webhooks/sandbox")),
                   "webhook_secret": SECRET} | config  # fmt: skip
        cfg = SandboxConfig(parse_faults(faults), **options)  # type: ignore[arg-type]
        async with TestClient(TestServer(create_sandbox_app(cfg), host="127.0.0.1")) as h.client:
            yield h


async def test_each_new_order_is_announced_once_signed_over_the_exact_body():
    async with sandbox() as h:
        orders = [await h.create("ord-hook-0001"), await h.create("ord-hook-0002")]
        await h.create("ord-hook-0001")  # a replay is not a state change
        stats = await h.settled()
        assert counts(stats, "events", "sent") == (2, 2)
        for order, got in zip(orders, h.got, strict=True):
            assert got.verify() == got.event["id"] == got.headers["webhook-id"]
            assert got.event["id"].startswith("evt_") and got.event["type"] == "order.fulfilled"
            want = {key: order[key] for key in ("reference", "status", "amount_minor", "currency")}
            assert got.event["data"] == want | {"vendor_order_id": order["id"]}
            assert got.event["created_at"] == order["updated_at"]


async def test_a_fulfilment_delay_announces_pending_now_and_fulfilled_when_it_passes():
    async with sandbox(fulfil_delay_ms=400) as h:
        before, order = time.monotonic(), await h.create("ord-hook-delay")
        assert counts(await h.settled(events=2), "events", "sent") == (2, 2)
        pending, fulfilled = h.got
        assert [d.event["type"] for d in h.got] == ["order.pending", "order.fulfilled"]
        assert fulfilled.at - before >= 0.39  # not a moment before the delay has passed
        assert pending.verify() != fulfilled.verify()
        # Only the sandbox's own timer can have fulfilled it: the test never read the order.
        resp = await h.client.get(f"/v1/orders/{order['id']}")
        assert (await resp.json())["updated_at"] == fulfilled.event["created_at"]


async def test_admin_changes_and_orphans_send_no_webhook():
    async with sandbox(fulfil_delay_ms=200) as h:
        order = await h.create("ord-hook-admin")
        orphan = {"reference": "orphan", "amount_minor": 9, "currency": "USD", "status": "pending"}
        assert (await h.client.post("/_admin/orders", json=orphan)).status == 201
        patch = await h.client.patch(f"/_admin/orders/{order['id']}", json={"status": "failed"})
        assert patch.status == 200
        await asyncio.sleep(0.4)  # past the cancelled auto-fulfilment
        assert (await h.client.get(f"/v1/orders/{order['id']}")).status == 200
        stats = await h.settled()
        assert [d.event["type"] for d in h.got] == ["order.pending"]
        assert stats["webhooks_events"] == 1


@pytest.mark.parametrize(
    ("faults", "copies"),
    [("webhook_drop=1.0", 0), ("webhook_duplicate=1.0", 2), ("webhook_delay_ms=300", 1)],
)
async def test_each_event_arrives_as_often_as_its_faults_say_always_with_one_id_and_body(
    faults, copies
):
    async with sandbox(f"seed=5,{faults}") as h:
        for i in range(6):
            await h.create(f"ord-hook-fault-{i}")
        stats = await h.settled()
        assert counts(stats, "dropped", "sent") == (6 if copies == 0 else 0, 6 * copies)
        by_id = Counter(d.verify() for d in h.got)
        assert sorted(by_id.values()) == [copies] * (6 if copies else 0)
        assert len({d.body for d in h.got}) == len(by_id)  # copies share the exact bytes


async def test_a_forged_delivery_precedes_the_genuine_one_and_fails_verification():
    async with sandbox("seed=2,webhook_forged=1.0") as h:
        await h.create("ord-hook-forged")
        assert counts(await h.settled(), "forged", "sent") == (1, 1) and len(h.got) == 2
        forged, genuine = h.got
        with pytest.raises(SignatureError) as caught:
            forged.verify()
        assert caught.value.check == "signature_mismatch"
        assert genuine.verify() == forged.headers["webhook-id"]
        assert forged.event["data"]["amount_minor"] == 100 * genuine.event["data"]["amount_minor"]


async def test_a_failed_delivery_is_retried_with_the_same_id():
    async with sandbox(statuses=(500, 503)) as h:
        await h.create("ord-hook-retry")
        stats = await h.settled()
        assert counts(stats, "attempts", "sent") == (3, 1)
        assert len({d.verify() for d in h.got}) == 1 and len(h.got) == 3
        assert h.got[2].at - h.got[1].at >= 0.35  # backoff doubles from 0.2 s


@pytest.mark.slow
async def test_a_receiver_that_never_accepts_gets_five_attempts_then_the_event_is_given_up():
    async with sandbox(statuses=(500,) * 10) as h:
        await h.create("ord-hook-dead")
        stats = await h.settled()
        assert counts(stats, "attempts", "failed", "sent") == (5, 1, 0)


async def test_a_reordered_webhook_arrives_after_the_next_and_a_last_one_is_not_lost():
    async with sandbox("seed=2,webhook_reorder=1.0") as h:
        refs = [(await h.create(f"ord-hook-re-{i}"))["reference"] for i in range(3)]
        stats = await h.settled()  # the third is held until REORDER_HOLD_S passes
        assert [d.event["data"]["reference"] for d in h.got] == [refs[1], refs[0], refs[2]]
        assert stats["webhooks_reordered"] == 2 and all(d.verify() for d in h.got)


def test_webhook_faults_replay_by_seed_without_shifting_the_api_fault_sequence():
    faults = parse_faults("seed=9,webhook_drop=0.5,webhook_duplicate=0.5,webhook_delay_ms=50")
    first, again = WebhookFaultInjector(faults), WebhookFaultInjector(faults)
    assert [first.draw() for _ in range(20)] == [again.draw() for _ in range(20)]
    api, plain = FaultInjector(faults), FaultInjector(parse_faults("seed=9"))
    assert [api.draw() for _ in range(20)] == [plain.draw() for _ in range(20)]


async def test_without_a_secret_nothing_is_sent_and_a_bad_secret_is_refused_up_front():
    async with sandbox(webhook_secret=None) as h:
        await h.create("ord-hook-off")
        assert "webhooks_sent" not in await h.stats() and h.got == []
    with pytest.raises(ValueError, match="webhook_secret"):
        create_sandbox_app(SandboxConfig(webhook_url="http://x.invalid", webhook_secret="whsec_x"))
