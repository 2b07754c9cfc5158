"""Merchant endpoints that hang hold up neither other endpoints nor events announced after
their sends went out. Before, a round sent what was due and waited for every send to finish (up
to WEBHOOK_TIMEOUT_S each, sixteen at a time) before reading what was due next; then, until
sends out over SLOW_AFTER_S stopped holding their slots, four hanging endpoints took all
sixteen."""

from __future__ import annotations

import asyncio
import contextlib

from ledger.webhooks import deliveries
from ledger.webhooks.deliveries import CONCURRENCY, PER_ENDPOINT
from tests.e2e.merchant_webhooks.conftest import hooks_with
from tests.e2e.merchant_webhooks.receiver import receiving

# Longer than the test waits for anything: a send to the hanging receiver never times out here.
TIMEOUT_S = 60.0
# More orders than the deliverer sends at once (16): the hanging receiver could take every slot.
ORDERS = 20


async def test_a_hanging_receiver_holds_up_neither_other_endpoints_nor_later_events(
    database_url, tmp_path
):
    async with (
        hooks_with(database_url, tmp_path, webhook_timeout_s=TIMEOUT_S) as hooks,
        receiving() as (hanging_url, hanging),
    ):
        hanging.hold = asyncio.Event()
        await hooks.endpoint(url=hanging_url)
        await hooks.endpoint()
        for n in range(ORDERS):
            await hooks.order(f"wh-many-{n}")
        await hooks.receiver.until(
            lambda r: all(r.of_order(f"wh-many-{n}") for n in range(ORDERS)), within_s=20
        )
        # Announced after the hanging receiver's sends went out, and still not answered.
        await hooks.order("wh-later")
        await hooks.receiver.until(
            lambda r: r.of_order("wh-later") == ["order.pending", "order.fulfilled"],
            within_s=10,
        )
        assert len(hanging.deliveries) <= PER_ENDPOINT, "one endpoint takes only its share"

        hanging.hold.set()
        keys = [f"wh-many-{n}" for n in range(ORDERS)] + ["wh-later"]
        await hanging.until(
            lambda r: all("order.fulfilled" in r.of_order(key) for key in keys), within_s=30
        )


async def hanging_endpoints(hooks, stack: contextlib.AsyncExitStack, hold: asyncio.Event):
    """As many endpoints as fill every slot with their shares, each on a receiver of its own
    that answers nothing until `hold` is set."""
    hanging = []
    for _ in range(CONCURRENCY // PER_ENDPOINT):
        url, receiver = await stack.enter_async_context(receiving())
        receiver.hold = hold
        hanging.append(receiver)
        await hooks.endpoint(url=url)
    return hanging


async def test_as_many_hanging_receivers_as_fill_every_slot_hold_up_no_other_endpoint(
    database_url, tmp_path
):
    """Each hanging endpoint's share out, together all sixteen slots: before, the prompt
    endpoint then waited for those sends to time out (TIMEOUT_S) before it got another."""
    hold = asyncio.Event()
    async with (
        hooks_with(database_url, tmp_path, webhook_timeout_s=TIMEOUT_S) as hooks,
        contextlib.AsyncExitStack() as stack,
    ):
        hanging = await hanging_endpoints(hooks, stack, hold)
        await hooks.endpoint()
        for n in range(ORDERS):
            await hooks.order(f"wh-full-{n}")
        await hooks.receiver.until(
            lambda r: all("order.fulfilled" in r.of_order(f"wh-full-{n}") for n in range(ORDERS)),
            within_s=15,
        )
        assert [len(r.deliveries) for r in hanging] == [PER_ENDPOINT] * len(hanging)
        hold.set()


async def test_slow_sends_out_together_never_pass_the_cap_on_sends_out(
    database_url, tmp_path, monkeypatch
):
    """MAX_OUT bounds the sockets slow sends hold: at a cap of 8, four hanging endpoints (16
    sends by their shares, all slow past SLOW_AFTER_S) get 8 out, and no more go."""
    monkeypatch.setattr(deliveries, "MAX_OUT", 8)
    monkeypatch.setattr(deliveries, "SLOW_AFTER_S", 0.1)
    hold = asyncio.Event()
    async with (
        hooks_with(database_url, tmp_path, webhook_timeout_s=TIMEOUT_S) as hooks,
        contextlib.AsyncExitStack() as stack,
    ):
        hanging = await hanging_endpoints(hooks, stack, hold)
        for n in range(ORDERS):
            await hooks.order(f"wh-cap-{n}")
        await hanging[0].until(lambda _: sum(len(r.deliveries) for r in hanging) >= 8)
        await asyncio.sleep(1.0)  # ten times SLOW_AFTER_S: without the cap, more would go
        assert sum(len(r.deliveries) for r in hanging) == 8
        hold.set()


async def test_a_send_still_out_when_the_service_stops_goes_again_with_its_id(
    database_url, tmp_path
):
    async with receiving() as (hanging_url, hanging):
        hanging.hold = asyncio.Event()
        async with hooks_with(database_url, tmp_path, webhook_timeout_s=TIMEOUT_S) as hooks:
            await hooks.endpoint(url=hanging_url)
            await hooks.order("wh-stopped")
            await hanging.until(lambda r: len(r.deliveries) == 1)
        # Stopped with the send out: it was never recorded, so the next sender sends it again.
        (first,) = hanging.ids()
        hanging.hold.set()
        async with hooks_with(database_url, tmp_path) as hooks:
            await hanging.until(lambda r: "order.fulfilled" in r.of_order("wh-stopped"))
            items = await hooks.until_events(
                lambda items: (
                    len(items) == 2
                    and all(i["deliveries"][0]["status"] == "delivered" for i in items)
                )
            )
    assert hanging.ids()[:2] == [first, first], "the same webhook-id, sent twice"
    (pending,) = [i for i in items if i["id"] == first]
    assert [(a["attempt"], a["outcome"]) for a in pending["attempts"]] == [(1, "delivered")], (
        "the send that was out when the service stopped left no record"
    )
