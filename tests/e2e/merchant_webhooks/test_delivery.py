"""Merchant webhooks are signed per Standard Webhooks, delivered at least once and in order
per order, retried with the same id, and carry the order as the API shows it."""

from __future__ import annotations

from standardwebhooks import Webhook

from ledger.webhooks.outgoing import announcement_id
from tests.e2e.merchant_webhooks.conftest import hooks_with
from tests.harness import scraped


def pending_id(key: str, client: str = "acme") -> str:
    """The id the order.pending announcement of an order gets (its first event, version 1)."""
    return announcement_id("order.pending", f"order:{client}:{key}:1")


async def test_an_endpoint_is_told_each_status_of_an_order_signed_as_standard_webhooks_verify(
    hooks,
):
    endpoint = await hooks.endpoint()
    assert endpoint["secret"].startswith("whsec_")
    await hooks.order("wh-order-1")
    await hooks.receiver.until(lambda r: len(r.deliveries) >= 2)
    verifier = Webhook(endpoint["secret"])
    events = [verifier.verify(d.body, d.headers) for d in hooks.receiver.deliveries]
    assert [e["type"] for e in events] == ["order.pending", "order.fulfilled"]
    assert [e["data"]["status"] for e in events] == ["pending", "fulfilled"]
    order = await hooks.get("/api/v1/orders/wh-order-1")
    assert order["card"] is not None
    fulfilled = events[1]["data"]
    assert fulfilled["card"] is None  # the card goes only to a fetch by its owner
    assert fulfilled | {"card": order["card"]} == order
    assert hooks.receiver.ids() == [e["id"] for e in events]
    assert events[0]["id"] == pending_id("wh-order-1")


async def test_a_receiver_failing_twice_then_recovering_gets_the_event_three_times_with_one_id(
    hooks,
):
    endpoint = await hooks.endpoint(events=["order.pending"])
    hooks.receiver.script = [500, 500]
    await hooks.order("wh-retry-1")
    await hooks.receiver.until(lambda r: len(r.deliveries) >= 3)
    assert hooks.receiver.ids() == [pending_id("wh-retry-1")] * 3
    [event] = await hooks.until_events(
        lambda items: items and items[0]["deliveries"][0]["status"] == "delivered"
    )
    assert [(a["attempt"], a["outcome"], a["http_status"]) for a in event["attempts"]] == [
        (1, "failed", 500),
        (2, "failed", 500),
        (3, "delivered", 200),
    ]
    assert all(a["latency_ms"] >= 0 for a in event["attempts"])
    assert event["attempts"][0]["error"].startswith("HTTP 500")
    [delivery] = event["deliveries"]
    assert (
        delivery["status"] == "delivered" and delivery["endpoint_id"] == endpoint["endpoint"]["id"]
    )
    attempted = await hooks.stream(endpoint["endpoint"]["id"])
    assert attempted == ["WebhookEndpointCreated"] + ["WebhookDeliveryAttempted"] * 3


async def test_a_receivers_answer_holding_nul_and_escapes_is_recorded_escaped_and_retried(hooks):
    await hooks.endpoint(events=["order.pending"])
    hooks.receiver.script = [500]
    hooks.receiver.refusal_body = b"boom\x00\x1b[2J\xff"
    await hooks.order("wh-nul-1")
    [event] = await hooks.until_events(
        lambda items: items and items[0]["deliveries"][0]["status"] == "delivered"
    )
    assert [a["error"] for a in event["attempts"]] == ["HTTP 500: boom\\x00\\x1b[2J\ufffd", None]


async def test_a_later_event_of_an_order_waits_for_the_earlier_one_and_other_orders_do_not(hooks):
    await hooks.endpoint()
    hooks.receiver.failing_ids = {pending_id("wh-slow-1")}
    await hooks.order("wh-slow-1")
    await hooks.order("wh-fast-1")
    await hooks.receiver.until(
        lambda r: (
            r.of_order("wh-fast-1") == ["order.pending", "order.fulfilled"]
            and r.of_order("wh-slow-1").count("order.pending") >= 3
        )
    )
    assert "order.fulfilled" not in hooks.receiver.of_order("wh-slow-1")
    hooks.receiver.failing_ids = set()
    await hooks.receiver.until(lambda r: "order.fulfilled" in r.of_order("wh-slow-1"))
    slow = hooks.receiver.of_order("wh-slow-1")
    assert slow[-1] == "order.fulfilled" and set(slow[:-1]) == {"order.pending"}


async def test_a_retry_after_header_is_honoured(hooks):
    await hooks.endpoint(events=["order.pending"])
    hooks.receiver.script = [503]
    hooks.receiver.retry_after = "1"
    await hooks.order("wh-later-1")
    await hooks.receiver.until(lambda r: len(r.deliveries) >= 2)
    first, second = hooks.receiver.deliveries[:2]
    # Without the header the retry would come after 0.1 to 0.2 s.
    assert second.at - first.at >= 0.95


async def test_an_endpoint_answering_410_is_disabled_with_an_event_and_resumes_when_enabled(
    hooks,
):
    created = await hooks.endpoint(events=["order.pending"])
    endpoint_id = created["endpoint"]["id"]
    hooks.receiver.status = 410
    await hooks.order("wh-gone-1")
    await hooks.receiver.until(lambda r: len(r.deliveries) == 1)
    shown = await hooks.until_shows(
        f"/api/v1/webhook-endpoints/{endpoint_id}", lambda e: e["disabled"]
    )
    assert shown["disabled_reason"].startswith("gone")
    assert (await hooks.stream(endpoint_id))[-1] == "WebhookEndpointDisabled"
    await hooks.order("wh-gone-2")
    hooks.receiver.status = 200
    enabled = await hooks.client.patch(
        f"/api/v1/webhook-endpoints/{endpoint_id}", json={"disabled": False}, headers=hooks.headers
    )
    assert (await enabled.json())["disabled"] is False
    await hooks.receiver.until(lambda r: len(r.deliveries) == 3)
    assert hooks.receiver.ids()[1:] == [pending_id("wh-gone-1"), pending_id("wh-gone-2")]


async def test_an_endpoint_failing_past_the_bound_is_disabled_and_a_given_up_event_frees_the_next(
    database_url, tmp_path
):
    async with hooks_with(
        database_url, tmp_path, webhook_retry_window_s=0.6, webhook_disable_after_s=60.0
    ) as hooks:
        await hooks.endpoint()
        hooks.receiver.failing_ids = {pending_id("wh-never-1")}
        await hooks.order("wh-never-1")
        # The pending event is given up after its window; the fulfilled one then goes out.
        await hooks.receiver.until(lambda r: "order.fulfilled" in r.of_order("wh-never-1"))
        [given_up] = await hooks.until_events(bool, "?status=failed")
        assert given_up["id"] == pending_id("wh-never-1")
        assert given_up["attempts"][-1]["outcome"] == "given_up"
    async with hooks_with(database_url, tmp_path, webhook_disable_after_s=0.5) as hooks:
        created = await hooks.endpoint(events=["order.pending"])
        hooks.receiver.status = 500
        await hooks.order("wh-failing-1")
        endpoint_id = created["endpoint"]["id"]
        shown = await hooks.until_shows(
            f"/api/v1/webhook-endpoints/{endpoint_id}", lambda e: e["disabled"]
        )
        assert len(hooks.receiver.deliveries) >= 2
        assert shown["disabled_reason"].startswith("failing: every attempt failed since")
        assert (await hooks.stream(endpoint_id))[-1] == "WebhookEndpointDisabled"


async def test_metrics_show_deliveries_by_outcome_the_queue_and_its_oldest_event(hooks):
    async def metric(name: str, **labels: str) -> float:
        text = await (await hooks.client.get("/metrics")).text()
        return scraped(text).get((name, frozenset(labels.items())), 0.0)

    delivered = await metric("ledger_webhook_deliveries_total", outcome="delivered")
    failed = await metric("ledger_webhook_deliveries_total", outcome="failed")
    await hooks.endpoint(events=["order.pending"])
    hooks.receiver.status = 500
    await hooks.order("wh-metrics-1")
    await hooks.receiver.until(lambda r: len(r.deliveries) >= 2)
    assert await metric("ledger_webhook_queue_depth") == 1
    assert await metric("ledger_webhook_oldest_undelivered_seconds") > 0
    assert await metric("ledger_webhook_deliveries_total", outcome="failed") >= failed + 1
    hooks.receiver.status = 200
    await hooks.until_events(lambda items: items[0]["deliveries"][0]["status"] == "delivered")
    assert await metric("ledger_webhook_deliveries_total", outcome="delivered") == delivered + 1
    assert await metric("ledger_webhook_queue_depth") == 0
    assert await metric("ledger_webhook_oldest_undelivered_seconds") == 0
