"""Any event can be sent again, however old; a recover re-queues everything since a time; a
rotated secret signs beside the new one for its overlap."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from tests.e2e.merchant_webhooks.test_delivery import pending_id


def delivered(items) -> bool:
    return bool(items) and all(d["status"] == "delivered" for i in items for d in i["deliveries"])


async def test_a_resend_delivers_the_same_event_again_and_is_recorded(hooks):
    created = await hooks.endpoint(events=["order.pending"])
    await hooks.order("wh-resend-1")
    await hooks.until_events(delivered)
    event_id = pending_id("wh-resend-1")
    answer = await hooks.client.post(
        f"/api/v1/webhook-events/{event_id}/resend", headers=hooks.headers
    )
    assert answer.status == 202 and (await answer.json())["requeued"] == 1
    await hooks.receiver.until(lambda r: len(r.deliveries) == 2)
    first, again = hooks.receiver.deliveries
    assert again.headers["webhook-id"] == event_id and again.body == first.body
    stream = await hooks.stream(created["endpoint"]["id"])
    assert stream.count("WebhookEventsRequeued") == 1
    [item] = await hooks.until_events(
        lambda items: delivered(items) and len(items[0]["attempts"]) == 2
    )
    assert [a["outcome"] for a in item["attempts"]] == ["delivered", "delivered"]


async def test_a_resend_of_an_unknown_or_another_clients_event_is_a_404(hooks):
    await hooks.endpoint(events=["order.pending"])
    await hooks.order("wh-resend-2")
    await hooks.until_events(delivered)
    other = await hooks.key("orders:write", client_id="globex")
    for event_id, headers in (("evt_nope", hooks.headers), (pending_id("wh-resend-2"), other)):
        answer = await hooks.client.post(
            f"/api/v1/webhook-events/{event_id}/resend", headers=headers
        )
        assert answer.status == 404
        assert (await answer.json())["field"] == "event_id"


async def test_recover_requeues_everything_since_a_time_including_types_subscribed_later(hooks):
    created = await hooks.endpoint(events=["order.fulfilled"])
    endpoint_id = created["endpoint"]["id"]
    since = datetime.now(UTC).isoformat()
    for key in ("wh-recover-1", "wh-recover-2"):
        await hooks.order(key)
    await hooks.receiver.until(lambda r: len(r.deliveries) == 2)
    await hooks.until_events(lambda items: len(items) == 2 and delivered(items))
    widened = await hooks.client.patch(
        f"/api/v1/webhook-endpoints/{endpoint_id}",
        json={"events": ["order.pending", "order.fulfilled"]},
        headers=hooks.headers,
    )
    assert widened.status == 200
    answer = await hooks.client.post(
        f"/api/v1/webhook-endpoints/{endpoint_id}/recover",
        json={"since": since},
        headers=hooks.headers,
    )
    assert answer.status == 202
    assert (await answer.json()) == {"requeued": 4, "endpoint_disabled": False}
    await hooks.receiver.until(lambda r: len(r.deliveries) == 6)
    for key in ("wh-recover-1", "wh-recover-2"):
        # In order per order: the pending one first, though it was queued with the others.
        assert hooks.receiver.of_order(key)[1:] == ["order.pending", "order.fulfilled"]
    assert (await hooks.stream(endpoint_id)).count("WebhookEventsRequeued") == 1


async def test_a_rotated_secret_signs_beside_the_new_one_for_the_overlap_only(hooks):
    created = await hooks.endpoint(events=["order.pending"])
    endpoint_id, old_secret = created["endpoint"]["id"], created["secret"]
    rotated = await hooks.client.post(
        f"/api/v1/webhook-endpoints/{endpoint_id}/rotate-secret", headers=hooks.headers
    )
    assert rotated.status == 200
    new_secret = (await rotated.json())["secret"]
    assert new_secret != old_secret
    await hooks.order("wh-rotate-1")
    await hooks.receiver.until(lambda r: len(r.deliveries) == 1)
    during = hooks.receiver.deliveries[0]
    assert len(during.headers["webhook-signature"].split(" ")) == 2
    for secret in (old_secret, new_secret):
        assert Webhook(secret).verify(during.body, during.headers)["type"] == "order.pending"
    ended = await hooks.client.post(
        f"/api/v1/webhook-endpoints/{endpoint_id}/rotate-secret",
        json={"expire_previous_in_s": 0},
        headers=hooks.headers,
    )
    newest = (await ended.json())["secret"]
    await hooks.order("wh-rotate-2")
    await hooks.receiver.until(lambda r: len(r.deliveries) == 2)
    after = hooks.receiver.deliveries[1]
    assert Webhook(newest).verify(after.body, after.headers)
    for retired in (old_secret, new_secret):
        with pytest.raises(WebhookVerificationError):
            Webhook(retired).verify(after.body, after.headers)
    assert (await hooks.stream(endpoint_id)).count("WebhookSecretRotated") == 2
