"""Every webhook route answers the type /openapi.json declares for its status."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec

from ledger.http.operations import operation
from tests.e2e.api.test_declared_answers import answer


async def status_of(client, method: str, route: str, path: str | None, **request) -> int:
    """The answer's status, once its body converts to what the table declares for it."""
    response = await client.request(method, path or route, **request)
    declared = operation(method, route).responses[response.status]
    body = await response.read()
    if declared is None:
        assert body == b""
    else:
        msgspec.json.decode(body, type=declared)
    return response.status


async def test_each_webhook_route_answers_the_type_its_document_declares(hooks):
    client, writer = hooks.client, hooks.headers
    admin = await hooks.key("admin", client_id="ops")
    base = "/api/v1/webhook-endpoints"
    one = f"{base}/{{endpoint_id}}"
    created = await answer(client, "POST", base, json={"url": hooks.url}, headers=writer)
    path = f"{base}/{created.endpoint.id}"
    await hooks.order("declared-wh-1")
    await hooks.until_events(lambda items: len(items) == 2)
    events = await answer(client, "GET", "/api/v1/webhook-events", headers=writer)
    event_id = events.items[0].id
    calls = [
        ("GET", base, None, {}),
        ("GET", one, path, {}),
        ("PATCH", one, path, {"json": {"description": "declared"}}),
        ("PATCH", one, path, {"json": {}}),
        ("POST", f"{one}/rotate-secret", f"{path}/rotate-secret", {}),
        (
            "POST",
            f"{one}/recover",
            f"{path}/recover",
            {"json": {"since": datetime.now(UTC).isoformat()}},
        ),
        ("POST", f"{one}/recover", f"{path}/recover", {"json": {"since": "yesterday"}}),
        (
            "POST",
            "/api/v1/webhook-events/{event_id}/resend",
            f"/api/v1/webhook-events/{event_id}/resend",
            {},
        ),
        (
            "POST",
            "/api/v1/webhook-events/{event_id}/resend",
            "/api/v1/webhook-events/evt_x/resend",
            {},
        ),
        ("GET", "/api/v1/webhook-events", "/api/v1/webhook-events?status=lost", {}),
        ("DELETE", one, path, {}),
        ("GET", one, path, {}),
    ]
    statuses = [
        await status_of(client, method, route, concrete, headers=writer, **request)
        for method, route, concrete, request in calls
    ]
    assert statuses == [200, 200, 200, 422, 200, 202, 422, 202, 404, 400, 204, 404]
    inbox = await answer(client, "GET", "/api/v1/vendor-webhooks", headers=admin)
    assert inbox.items == []
