"""API keys that end: expiry, rotation with an overlap, last use, all managed over HTTP by an
admin (issue 13), and run by the service role's grants."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest


def bearer(created: dict) -> dict[str, str]:
    return {"Authorization": f"Bearer {created['api_key']}"}


async def test_a_rotated_key_keeps_working_for_its_overlap_and_the_new_one_at_once(running, admin):
    client, _, _ = running
    made = await client.post(
        "/api/v1/api-keys", json={"name": "shop", "scopes": ["orders:write"]}, headers=admin
    )
    first = await made.json()
    assert made.status == 201 and first["key"]["client_id"] == "shop"
    assert (await client.get("/api/v1/orders/unknown-key", headers=bearer(first))).status == 404

    rotated = await client.post(
        f"/api/v1/api-keys/{first['key']['key_id']}/rotate", json={"overlap_s": 1}, headers=admin
    )
    second = await rotated.json()
    assert rotated.status == 201 and second["replaces"]["replaced_by"] == second["key"]["key_id"]
    for key in (first, second):  # both work during the overlap
        assert (await client.get("/api/v1/orders/unknown-key", headers=bearer(key))).status == 404
    again = await client.post(
        f"/api/v1/api-keys/{first['key']['key_id']}/rotate", json={}, headers=admin
    )
    assert again.status == 409 and (await again.json())["code"] == "rotation_refused"

    await asyncio.sleep(1.1)
    expired = await client.get("/api/v1/orders/unknown-key", headers=bearer(first))
    assert expired.status == 401 and "expired at" in (await expired.json())["detail"]
    assert (await client.get("/api/v1/orders/unknown-key", headers=bearer(second))).status == 404

    listed = {
        k["key_id"]: k
        for k in (await (await client.get("/api/v1/api-keys", headers=admin)).json())["items"]
    }
    assert listed[first["key"]["key_id"]]["last_used_at"] is not None
    assert all("api_key" not in k and "key_hash" not in k for k in listed.values())

    revoked = await client.delete(f"/api/v1/api-keys/{second['key']['key_id']}", headers=admin)
    assert revoked.status == 204
    assert (await client.get("/api/v1/orders/x-key-000", headers=bearer(second))).status == 401


async def test_a_key_made_with_an_expiry_stops_at_it(running, admin):
    client, _, _ = running
    soon = (datetime.now(UTC) + timedelta(seconds=1)).isoformat()
    made = await client.post(
        "/api/v1/api-keys",
        json={"name": "temp", "scopes": ["finance:read"], "expires_at": soon},
        headers=admin,
    )
    key = await made.json()
    assert made.status == 201, key
    assert (await client.get("/api/v1/gl/daily", headers=bearer(key))).status == 200
    await asyncio.sleep(1.1)
    assert (await client.get("/api/v1/gl/daily", headers=bearer(key))).status == 401


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x", "scopes": ["root"]}, "scopes"),
        ({"name": "x", "scopes": ["admin"], "client_id": "a:b"}, "client_id"),
        ({"name": "x", "scopes": []}, "scopes"),
        ({"name": "x", "scopes": ["admin"], "expires_at": "2030-01-01T00:00:00"}, "expires_at"),
    ],
)
async def test_a_bad_key_request_is_a_422_naming_the_field(running, admin, body, field):
    client, _, _ = running
    response = await client.post("/api/v1/api-keys", json=body, headers=admin)
    problem = await response.json()
    assert response.status == 422 and problem["field"] == field, problem


async def test_key_management_needs_the_admin_scope(running):
    client, writer, _ = running
    assert (await client.get("/api/v1/api-keys", headers=writer)).status == 403
