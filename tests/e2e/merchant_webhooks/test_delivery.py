"""Merchant webhooks are signed per Standard Webhooks, delivered at least once and in order
per order, retried with the same id, and carry the order as the API shows it."""

from __future__ import annotations

from standardwebhooks import Webhook

from tests.harness import order_body, wait_until_terminal


async def test_an_endpoint_is_told_each_status_of_an_order_signed_as_standard_webhooks_verify(
    hooks,
):
    endpoint = await hooks.endpoint()
    assert endpoint["secret"].startswith("whsec_")
    placed = await hooks.client.post(
        "/api/v1/orders", json=order_body("wh-order-1"), headers=hooks.headers
    )
    assert placed.status == 201
    await hooks.receiver.until(lambda r: len(r.deliveries) >= 2)
    verifier = Webhook(endpoint["secret"])
    events = [verifier.verify(d.body, d.headers) for d in hooks.receiver.deliveries]
    assert [e["type"] for e in events] == ["order.pending", "order.fulfilled"]
    assert [e["data"]["status"] for e in events] == ["pending", "fulfilled"]
    order = await (
        await hooks.client.get("/api/v1/orders/wh-order-1", headers=hooks.headers)
    ).json()
    assert order["card"] is not None
    fulfilled = events[1]["data"]
    assert fulfilled["card"] is None  # the card goes only to a fetch by its owner
    assert fulfilled | {"card": order["card"]} == order
    assert [d.headers["webhook-id"] for d in hooks.receiver.deliveries] == [e["id"] for e in events]
