"""Every route answers what /openapi.json declares: each real answer, read from a running
service, converts to its operation's declared type for its status (issue 18). A handler whose
shape drifts from its document fails here."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import msgspec

from ledger.auth import create_key
from ledger.http.keys import POOL
from ledger.http.operations import operation
from tests.harness import lose_at_vendor, order_body, signed, webhook, window_around_now


async def answer(client, method: str, route: str, path: str | None = None, **request) -> object:
    """The answer converted to the type the route table declares for its status."""
    response = await client.request(method, path or route, **request)
    declared = operation(method, route).responses[response.status]
    if isinstance(declared, str):
        assert response.content_type == declared.split(";")[0], response.content_type
        return await response.text()
    return msgspec.json.decode(await response.read(), type=declared)


async def test_each_route_answers_the_type_its_document_declares(running):
    client, writer, vendor_url = running
    async with client.app[POOL].acquire() as conn:
        _, admin_key = await create_key(conn, name="ops", scopes=["admin", "finance:all"])
        _, finance_key = await create_key(conn, name="acme", scopes=["finance:read"])
    admin = {"Authorization": f"Bearer {admin_key}"}
    finance = {"Authorization": f"Bearer {finance_key}"}
    order = await answer(
        client, "POST", "/api/v1/orders", json=order_body("declared-1"), headers=writer
    )
    today = datetime.now(UTC).date().isoformat()
    for route, path, headers in [
        ("/healthz", None, {}),
        ("/readyz", None, {}),
        ("/metrics", None, {}),
        ("/openapi.json", None, {}),
        ("/api/v1/orders", None, finance),
        ("/api/v1/discrepancies", None, finance),
        ("/api/v1/gl/daily", None, finance),
        ("/api/v1/gl/daily.csv", None, finance),
        ("/api/v1/gl/journal", f"/api/v1/gl/journal?date={today}", finance),
        ("/api/v1/gl/journal.csv", f"/api/v1/gl/journal.csv?date={today}", finance),
        ("/api/v1/api-keys", None, admin),
        ("/api/v1/orders/{idempotency_key}/events", "/api/v1/orders/declared-1/events", writer),
    ]:
        await answer(client, "GET", route, path, headers=headers)
    body = webhook(order.vendor_order_id or "x", webhook_id="evt_declared")
    await answer(
        client,
        "POST",
        "/webhooks/{vendor}",
        "/webhooks/sandbox",
        data=body,
        headers=signed(body, "evt_declared"),
    )
    # The vendor loses the order: the run below finds it missing, so a finding is listed.
    await lose_at_vendor(vendor_url, order.vendor_order_id)
    window = window_around_now(datetime.now(UTC))
    started = await answer(client, "POST", "/api/v1/reconciliations", json=window, headers=admin)
    run_path = f"/api/v1/reconciliations/{started.run_id}"
    for _ in range(100):
        run = await answer(
            client, "GET", "/api/v1/reconciliations/{run_id}", run_path, headers=admin
        )
        if run.status == "completed":
            break
        await asyncio.sleep(0.05)
    assert run.status == "completed" and run.counts["missing_at_vendor"] == 1
    for _ in range(100):  # the discrepancy projection follows the log
        findings = await answer(client, "GET", "/api/v1/discrepancies", headers=finance)
        if findings.items:
            break
        await asyncio.sleep(0.05)
    assert [f.type for f in findings.items] == ["missing_at_vendor"]
    problem = await answer(
        client, "GET", "/api/v1/orders", "/api/v1/orders?cursor=x", headers=finance
    )
    assert problem.code == "unknown_parameter"
