"""Order submission over real HTTP against the sandbox vendor on loopback."""

import asyncio

from tests.harness import (
    order_body,
    sandbox,
    sandbox_stats,
    service,
    service_settings,
    wait_until_terminal,
)


async def test_a_new_order_is_fulfilled_within_the_budget_and_shows_its_card(running):
    client, headers, url = running
    response = await client.post("/api/v1/orders", json=order_body("order-0001"), headers=headers)
    body = await response.json()
    assert response.status == 201, body
    assert body["status"] == "fulfilled" and body["amount"] == "25.00"
    assert body["card"]["code"] and body["vendor_order_id"].startswith("vo_")
    fetched = await (await client.get("/api/v1/orders/order-0001", headers=headers)).json()
    assert fetched["card"] == body["card"] and fetched["status"] == "fulfilled"
    trail = await (await client.get("/api/v1/orders/order-0001/events", headers=headers)).json()
    assert [e["type"] for e in trail["events"]] == [
        "OrderRequested",
        "VendorRequestSent",
        "VendorResponseReceived",
    ]
    assert body["card"]["code"] not in str(trail), "card secrets never enter the log"
    assert (await sandbox_stats(url))["orders"] == 1


async def test_the_same_key_and_payload_replays_the_original_order(running):
    client, headers, url = running
    first = await client.post(
        "/api/v1/orders", json=order_body(), headers={**headers, "Idempotency-Key": '"order-0002"'}
    )
    again = await client.post(
        "/api/v1/orders",
        json=order_body(amount=25),
        headers={**headers, "Idempotency-Key": "order-0002"},
    )
    assert first.status == 201 and again.status == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert (await again.json())["vendor_order_id"] == (await first.json())["vendor_order_id"]
    assert (await sandbox_stats(url))["orders"] == 1


async def test_the_same_key_with_another_payload_is_refused_and_never_reaches_the_vendor(running):
    client, headers, url = running
    await client.post("/api/v1/orders", json=order_body("order-0003"), headers=headers)
    response = await client.post(
        "/api/v1/orders", json=order_body("order-0003", amount="26.00"), headers=headers
    )
    body = await response.json()
    assert response.status == 422 and body["code"] == "idempotency_key_reused"
    assert (await sandbox_stats(url))["orders"] == 1
    trail = await (await client.get("/api/v1/orders/order-0003/events", headers=headers)).json()
    assert trail["events"][-1]["type"] == "IdempotencyConflict"


async def test_keys_are_scoped_per_client(running, database_url):
    client, headers, url = running
    from ledger.auth import create_key
    from ledger.http.keys import POOL

    async with client.app[POOL].acquire() as conn:
        _, other = await create_key(conn, name="globex", scopes=["orders:write"])
    other_headers = {"Authorization": f"Bearer {other}"}
    a = await client.post("/api/v1/orders", json=order_body("shared-key-1"), headers=headers)
    b = await client.post(
        "/api/v1/orders", json=order_body("shared-key-1", amount="1.00"), headers=other_headers
    )
    assert (a.status, b.status) == (201, 201)
    assert (await sandbox_stats(url))["orders"] == 2
    missing = await client.get("/api/v1/orders/order-unknown", headers=other_headers)
    assert missing.status == 404


async def test_fifty_concurrent_requests_with_one_key_make_exactly_one_vendor_order(
    database_url, tmp_path
):
    async with (
        sandbox("seed=3,latency_ms=200") as (url, _),
        service(database_url, service_settings(url, tmp_path)) as (client, headers),
    ):
        responses = await asyncio.gather(
            *(
                client.post("/api/v1/orders", json=order_body("same-key-50"), headers=headers)
                for _ in range(50)
            )
        )
        statuses = [r.status for r in responses]
        assert statuses.count(201) == 1, statuses
        assert set(statuses) <= {200, 201, 409}, statuses
        for response in responses:
            if response.status == 409:
                assert response.headers["Retry-After"] == "1"
        stats = await sandbox_stats(url)
        assert stats["orders"] == 1 and stats["duplicate_references"] == []


async def test_an_unreachable_vendor_leaves_the_order_pending_and_the_completer_finishes_it(
    database_url, tmp_path, unused_tcp_port
):
    settings = service_settings(f"http://127.0.0.1:{unused_tcp_port}", tmp_path, sync_budget_s=1.0)
    async with service(database_url, settings) as (client, headers):
        response = await client.post(
            "/api/v1/orders", json=order_body("vendor-down-1"), headers=headers
        )
        assert response.status == 202
        assert (await response.json())["status"] == "pending"
        async with sandbox(port=unused_tcp_port) as (url, _):
            done, pending = await wait_until_terminal(client, headers, ["vendor-down-1"], 30)
            assert pending == [] and done["vendor-down-1"]["status"] == "fulfilled"
            assert (await sandbox_stats(url))["orders"] == 1


async def test_a_vendor_rejection_fails_the_order_with_its_reason(running):
    client, headers, _ = running
    response = await client.post(
        "/api/v1/orders", json=order_body("rejected-1", brand_id="invalid-brand"), headers=headers
    )
    body = await response.json()
    assert response.status == 201 and body["status"] == "failed"
    assert body["failure_reason"] == "brand_not_found"
