"""Endpoints are a client's own, changed only through events, and refuse what they cannot
use: a private address, an event type the key may not see, a malformed body."""

from __future__ import annotations

import pytest

from tests.e2e.merchant_webhooks.conftest import hooks_with

ENDPOINTS = "/api/v1/webhook-endpoints"


async def test_an_endpoint_is_created_listed_changed_and_deleted_each_as_an_event(hooks):
    created = await hooks.endpoint(description="fulfilment")
    endpoint = created["endpoint"]
    assert endpoint["events"] == [
        "order.pending",
        "order.fulfilled",
        "order.failed",
        "order.refunded",
    ]  # an orders:write key: the order events, not finance ones
    one = f"{ENDPOINTS}/{endpoint['id']}"
    assert await hooks.get(one) == endpoint
    assert "secret" not in await hooks.get(one)
    listed = await hooks.get(ENDPOINTS)
    assert [e["id"] for e in listed["items"]] == [endpoint["id"]] and listed["next"] is None
    changed = await hooks.client.patch(
        one, json={"description": "v2", "events": ["order.failed"]}, headers=hooks.headers
    )
    assert (await changed.json())["events"] == ["order.failed"]
    deleted = await hooks.client.delete(one, headers=hooks.headers)
    assert deleted.status == 204
    assert (await hooks.client.get(one, headers=hooks.headers)).status == 404
    assert await hooks.stream(endpoint["id"]) == [
        "WebhookEndpointCreated",
        "WebhookEndpointUpdated",
        "WebhookEndpointDeleted",
    ]
    await hooks.order("wh-deleted-1")
    assert await hooks.get("/api/v1/webhook-events") == {"items": [], "next": None}


async def test_endpoints_page_with_a_cursor(hooks):
    made = [(await hooks.endpoint(description=str(i)))["endpoint"]["id"] for i in range(3)]
    first = await hooks.get(f"{ENDPOINTS}?limit=2")
    second = await hooks.get(f"{ENDPOINTS}?limit=2&after={first['next']}")
    assert [e["id"] for e in first["items"] + second["items"]] == sorted(made)
    assert second["next"] is None


async def test_another_clients_endpoint_is_invisible_and_gets_none_of_our_events(hooks):
    mine = (await hooks.endpoint())["endpoint"]
    other = await hooks.key("orders:write", client_id="globex")
    theirs = (await hooks.endpoint(headers=other, url=hooks.url + "?globex"))["endpoint"]
    for method in ("get", "patch", "delete"):
        answer = await hooks.client.request(
            method, f"{ENDPOINTS}/{mine['id']}", json={"disabled": True}, headers=other
        )
        assert answer.status == 404, method
    assert [e["id"] for e in (await hooks.get(ENDPOINTS, other))["items"]] == [theirs["id"]]
    await hooks.order("wh-tenant-1")
    await hooks.receiver.until(lambda r: len(r.deliveries) == 2)
    assert all(d.headers.get("webhook-id") for d in hooks.receiver.deliveries)
    assert await hooks.get("/api/v1/webhook-events", other) == {"items": [], "next": None}


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        ({"url": "ftp://hooks.example.com/x"}, 422, "invalid_url", "url"),
        ({"url": "https://user:pw@hooks.example.com/x"}, 422, "invalid_url", "url"),
        ({"url": "not a url"}, 422, "invalid_url", "url"),
        ({"url": "https://hooks.example.com", "events": []}, 422, "invalid_field", "events"),
        (
            {"url": "https://hooks.example.com", "events": ["order.lost"]},
            422,
            "invalid_field",
            "events[0]",
        ),
        (
            {"url": "https://hooks.example.com", "events": ["discrepancy.opened"]},
            403,
            "insufficient_scope",
            "events",
        ),
        ({"url": "https://hooks.example.com", "colour": "red"}, 422, "invalid_field", "colour"),
        ({"events": ["order.failed"]}, 422, "invalid_field", "url"),
        (
            {"url": "https://hooks.example.com", "description": 7},
            422,
            "invalid_field",
            "description",
        ),
        (
            {"url": "https://hooks.example.com", "description": "bell \u0007"},
            422,
            "invalid_field",
            "description",
        ),
    ],
)
async def test_a_bad_endpoint_is_refused_naming_the_field(hooks, body, status, code, field):
    answer = await hooks.client.post(ENDPOINTS, json=body, headers=hooks.headers)
    problem = await answer.json()
    assert answer.status == status, problem
    assert (problem["code"], problem["field"]) == (code, field)
    assert await hooks.get(ENDPOINTS) == {"items": [], "next": None}


async def test_a_patch_with_nothing_to_change_is_refused(hooks):
    endpoint = (await hooks.endpoint())["endpoint"]
    answer = await hooks.client.patch(
        f"{ENDPOINTS}/{endpoint['id']}", json={}, headers=hooks.headers
    )
    assert answer.status == 422 and (await answer.json())["code"] == "nothing_to_change"


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/hooks",
        "http://10.0.0.8/hooks",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hooks",
        "http://localhost/hooks",
        "http://[::ffff:192.168.0.1]/hooks",
    ],
)
async def test_a_private_address_is_refused_unless_allowed(database_url, tmp_path, url):
    async with hooks_with(database_url, tmp_path, webhook_allow_private=False) as hooks:
        answer = await hooks.client.post(ENDPOINTS, json={"url": url}, headers=hooks.headers)
        problem = await answer.json()
        assert answer.status == 422 and problem["field"] == "url"
        assert "WEBHOOK_ALLOW_PRIVATE is off" in problem["detail"]


async def test_finance_events_need_a_finance_key(hooks):
    finance = await hooks.key("orders:write", "finance:read")
    own = (await hooks.endpoint(headers=finance))["endpoint"]
    assert "discrepancy.opened" in own["events"]
    assert "reconciliation.completed" not in own["events"]
    every = await hooks.key("orders:write", "finance:all")
    everything = (await hooks.endpoint(headers=every))["endpoint"]
    assert "reconciliation.completed" in everything["events"]
    refused = await hooks.client.post(
        ENDPOINTS,
        json={"url": hooks.url, "events": ["reconciliation.completed"]},
        headers=finance,
    )
    assert refused.status == 403
    assert (await refused.json())["required_scope"] == "finance:all"


async def test_an_endpoint_is_not_given_events_its_makers_scope_would_never_send_it(hooks):
    """An endpoint hears what its maker's finance scope allows; a stronger key may change it,
    but events beyond that scope would be accepted and never sent, so they are refused."""
    plain = (await hooks.endpoint(events=["order.fulfilled"]))["endpoint"]
    operator = await hooks.key("orders:write", "finance:all")
    for events in (["discrepancy.opened"], ["order.failed", "reconciliation.completed"]):
        answer = await hooks.client.patch(
            f"{ENDPOINTS}/{plain['id']}", json={"events": events}, headers=operator
        )
        problem = await answer.json()
        assert answer.status == 422, problem
        assert (problem["code"], problem["field"]) == ("event_not_allowed", "events")
        assert "finance:read" in problem["detail"] or "finance:all" in problem["detail"]
    assert (await hooks.get(f"{ENDPOINTS}/{plain['id']}"))["events"] == ["order.fulfilled"]
    widened = await hooks.client.patch(
        f"{ENDPOINTS}/{plain['id']}", json={"events": ["order.failed"]}, headers=operator
    )
    assert widened.status == 200 and (await widened.json())["events"] == ["order.failed"]
