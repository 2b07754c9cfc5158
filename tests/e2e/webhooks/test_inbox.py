"""Signed vendor webhooks: verified on raw bytes, deduplicated, and only ever hints."""

import asyncio
import base64
import json
import time

import pytest

from ledger.http.keys import POOL
from tests.harness import (
    order_body,
    sandbox,
    scraped,
    service,
    service_settings,
    signed,
    wait_until_terminal,
    webhook,
)


@pytest.fixture
async def running(database_url, tmp_path):
    # The vendor finishes orders only after a long delay: they stay pending while we test hints.
    async with sandbox(fulfil_delay_ms=600_000) as (url, _):
        # The completer waits a minute: here only the confirmer asks the vendor.
        settings = service_settings(url, tmp_path, sync_budget_s=1.0, completer_backoff_s=60.0)
        async with service(database_url, settings) as (client, headers):
            yield client, headers


async def metric(client, name: str, **labels: str) -> float:
    """A sample's value as /metrics shows it, read with prometheus_client's own parser (the
    registry is process-wide, so tests compare before and after)."""
    return scraped(await (await client.get("/metrics")).text()).get(
        (name, frozenset(labels.items())), 0.0
    )


async def events_of(client, headers, key):
    trail = await (await client.get(f"/api/v1/orders/{key}/events", headers=headers)).json()
    return [e["type"] for e in trail["events"]]


async def reference_of(client, key: str) -> str:
    return await client.app[POOL].fetchval(
        "SELECT vendor_reference FROM order_references WHERE stream_id = $1", f"order:acme:{key}"
    )


async def test_a_signed_webhook_is_recorded_once_even_when_redelivered_concurrently(running):
    client, headers = running
    await client.post("/api/v1/orders", json=order_body("hook-order-1"), headers=headers)
    body = webhook(await reference_of(client, "hook-order-1"))
    responses = await asyncio.gather(
        *(client.post("/webhooks/sandbox", data=body, headers=signed(body)) for _ in range(8))
    )
    assert [r.status for r in responses] == [200] * 8
    duplicates = [(await r.json())["duplicate"] for r in responses]
    assert duplicates.count(False) == 1
    assert (await events_of(client, headers, "hook-order-1")).count("WebhookReceived") == 1


async def test_a_webhook_is_a_hint_and_the_vendor_decides_the_status(running):
    client, headers = running
    await client.post("/api/v1/orders", json=order_body("hook-order-2"), headers=headers)
    # Validly signed, but it claims "fulfilled" while the vendor still has the order pending.
    body = webhook(await reference_of(client, "hook-order-2"), "fulfilled", "evt_2")
    assert (
        await client.post("/webhooks/sandbox", data=body, headers=signed(body, "evt_2"))
    ).status == 200
    for _ in range(100):
        if "VendorStatusObserved" in await events_of(client, headers, "hook-order-2"):
            break
        await asyncio.sleep(0.05)
    trail = await (await client.get("/api/v1/orders/hook-order-2/events", headers=headers)).json()
    observed = [e["data"] for e in trail["events"] if e["type"] == "VendorStatusObserved"]
    assert observed and observed[0]["status"] == "pending" and observed[0]["cause"] == "webhook"
    order = await (await client.get("/api/v1/orders/hook-order-2", headers=headers)).json()
    assert order["status"] == "pending"


@pytest.mark.parametrize(
    ("tamper", "check"),
    [
        ("bad_signature", "signature_mismatch"),
        ("stale_timestamp", "stale_timestamp"),
        ("altered_byte", "signature_mismatch"),
        ("respaced_json", "signature_mismatch"),
        ("missing_signature", "missing_header"),
        ("wrong_secret", "signature_mismatch"),
    ],
)
async def test_a_forged_webhook_changes_nothing_but_the_rejection_count(running, tamper, check):
    client, _ = running
    body = webhook("gcl-unknown", "fulfilled", "evt_forged")
    headers = signed(body, "evt_forged")
    if tamper == "bad_signature":
        headers["webhook-signature"] = "v1," + base64.b64encode(bytes(32)).decode()
    elif tamper == "stale_timestamp":
        headers = signed(body, "evt_forged", timestamp=int(time.time()) - 301)
    elif tamper == "altered_byte":
        body = body.replace(b"fulfilled", b"fulfilleD", 1)
    elif tamper == "respaced_json":
        body = json.dumps(json.loads(body), indent=2).encode()
    elif tamper == "missing_signature":
        del headers["webhook-signature"]
    elif tamper == "wrong_secret":
        headers = signed(body, "evt_forged", secret="whsec_" + "QUFB" * 8)
    series = ("ledger_webhook_rejections_total", {"check": check, "vendor": "sandbox"})
    before = await metric(client, series[0], **series[1])
    response = await client.post("/webhooks/sandbox", data=body, headers=headers)
    problem = await response.json()
    assert response.status == 401 and problem["check"] == check
    assert headers.get("webhook-signature", "absent") not in json.dumps(problem)
    assert await client.app[POOL].fetchval("SELECT count(*) FROM events") == 0
    assert await metric(client, series[0], **series[1]) == before + 1


async def test_webhook_endpoint_errors_are_precise(running):
    client, _ = running
    unknown = await client.post("/webhooks/nobody", data=b"{}", headers=signed(b"{}"))
    assert unknown.status == 404
    garbage = b"not json at all"
    malformed = await client.post("/webhooks/sandbox", data=garbage, headers=signed(garbage))
    assert malformed.status == 400 and (await malformed.json())["code"] == "malformed_webhook"
    huge = b"{" + b" " * 70_000 + b"}"
    assert (await client.post("/webhooks/sandbox", data=huge, headers=signed(huge))).status == 413


async def test_a_webhook_for_an_unknown_reference_lands_in_the_vendor_stream(running):
    client, _ = running
    body = webhook("gcl-never-ordered", "fulfilled", "evt_orphan")
    assert (
        await client.post("/webhooks/sandbox", data=body, headers=signed(body, "evt_orphan"))
    ).status == 200
    streams = await client.app[POOL].fetch("SELECT stream_id, type FROM events")
    assert [(r["stream_id"], r["type"]) for r in streams] == [
        ("webhooks:sandbox", "WebhookReceived")
    ]


async def test_an_older_pending_webhook_after_fulfilment_never_moves_the_order_back(
    database_url, tmp_path
):
    async with (
        sandbox() as (url, _),
        service(database_url, service_settings(url, tmp_path)) as (client, headers),
    ):
        assert (
            await client.post("/api/v1/orders", json=order_body("hook-order-3"), headers=headers)
        ).status == 201
        body = webhook(await reference_of(client, "hook-order-3"), "pending", "evt_old")
        await client.post("/webhooks/sandbox", data=body, headers=signed(body, "evt_old"))
        await asyncio.sleep(0.5)  # the confirmer has looked
        order = await (await client.get("/api/v1/orders/hook-order-3", headers=headers)).json()
        assert order["status"] == "fulfilled"


async def test_with_webhooks_dropped_and_duplicated_every_order_reaches_its_true_state(
    database_url, tmp_path, unused_tcp_port
):
    hook_url = f"http://127.0.0.1:{unused_tcp_port}/webhooks/sandbox"
    faults = "seed=21,webhook_drop=0.2,webhook_duplicate=0.2,webhook_delay_ms=200"
    async with sandbox(faults, webhook_url=hook_url, fulfil_delay_ms=300) as (url, _):
        settings = service_settings(url, tmp_path, sync_budget_s=0.5, completer_backoff_s=2.0)
        async with service(database_url, settings, port=unused_tcp_port) as (client, headers):
            keys = [f"hooked-{i:03d}" for i in range(40)]
            for key in keys:
                response = await client.post(
                    "/api/v1/orders", json=order_body(key), headers=headers
                )
                assert response.status == 202  # the vendor finishes later
            done, pending = await wait_until_terminal(client, headers, keys, within_s=60)
            assert pending == [] and {b["status"] for b in done.values()} == {"fulfilled"}
            pool = client.app[POOL]
            duplicated = await pool.fetchval(
                "SELECT count(*) FROM (SELECT convert_from(data, 'UTF8')::jsonb ->> 'webhook_id'"
                " FROM events WHERE type = 'WebhookReceived' GROUP BY 1 HAVING count(*) > 1) d"
            )
            assert duplicated == 0
            assert (
                await pool.fetchval("SELECT count(*) FROM events WHERE type = 'WebhookReceived'")
                > 0
            )
