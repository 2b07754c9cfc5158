"""The vendor webhook inbox (admin): every delivery that reached us, accepted, duplicate or
refused and why, with the confirmation it led to; a refused one keeps its headers and a hash
of its body, never the body."""

from __future__ import annotations

import asyncio
import hashlib

import pytest

from ledger.auth import create_key
from ledger.http.keys import POOL
from tests.harness import order_body, sandbox, service, service_settings, signed, webhook

INBOX = "/api/v1/vendor-webhooks"


@pytest.fixture
async def inbox(database_url, tmp_path):
    async with sandbox(fulfil_delay_ms=600_000) as (url, _):
        settings = service_settings(url, tmp_path, sync_budget_s=1.0, completer_backoff_s=60.0)
        async with service(database_url, settings) as (client, headers):
            async with client.app[POOL].acquire() as conn:
                _, key = await create_key(conn, name="ops", scopes=["admin"])
            yield client, headers, {"Authorization": f"Bearer {key}"}


async def listed(client, admin, query: str = "") -> dict:
    answer = await client.get(f"{INBOX}{query}", headers=admin)
    assert answer.status == 200, await answer.text()
    return await answer.json()


async def test_accepted_duplicate_and_refused_deliveries_are_all_listed_with_why(inbox):
    client, writer, admin = inbox
    await client.post("/api/v1/orders", json=order_body("inbox-order-1"), headers=writer)
    reference = await client.app[POOL].fetchval(
        "SELECT vendor_reference FROM order_references WHERE stream_id = $1",
        "order:acme:inbox-order-1",
    )
    body = webhook(reference, "fulfilled", "evt_inbox_1")
    for _ in range(2):
        sent = await client.post(
            "/webhooks/sandbox", data=body, headers=signed(body, "evt_inbox_1")
        )
        assert sent.status == 200
    forged = signed(body, "evt_inbox_2", secret="whsec_" + "QUFB" * 8)
    assert (await client.post("/webhooks/sandbox", data=body, headers=forged)).status == 401
    garbage = b'{"not": "a webhook"}'
    assert (
        await client.post("/webhooks/sandbox", data=garbage, headers=signed(garbage, "evt_inbox_3"))
    ).status == 400
    for _ in range(100):  # the confirmer asks the vendor about the accepted one
        page = await listed(client, admin)
        accepted = [i for i in page["items"] if i["outcome"] == "accepted"]
        if accepted and accepted[0]["confirmation"]:
            break
        await asyncio.sleep(0.05)
    outcomes = [i["outcome"] for i in page["items"]]
    assert outcomes == ["refused", "refused", "duplicate", "accepted"]  # newest first
    malformed, refused, duplicate, accepted = page["items"]
    assert accepted["order"] == "inbox-order-1" and accepted["webhook_id"] == "evt_inbox_1"
    assert accepted["confirmation"] == {
        "status": "pending",  # the vendor still has it pending: the hint moved nothing
        "observed_at": accepted["confirmation"]["observed_at"],
        "cause": "webhook",
    }
    assert duplicate["reason"] is None and duplicate["confirmation"] is None
    assert refused["reason"].startswith("invalid_signature (signature_mismatch)")
    assert refused["headers"]["webhook-signature"] == forged["webhook-signature"]
    assert refused["body_sha256"] == hashlib.sha256(body).hexdigest()
    assert refused["body_bytes"] == len(body) and "body" not in refused
    assert malformed["reason"].startswith("malformed_webhook")
    assert "Authorization" not in accepted["headers"]
    only_refused = await listed(client, admin, "?outcome=refused&vendor=sandbox")
    assert [i["id"] for i in only_refused["items"]] == [malformed["id"], refused["id"]]
    assert (await listed(client, admin, "?vendor=tango"))["items"] == []


async def test_the_inbox_pages_newest_first_and_is_for_admins_only(inbox):
    client, writer, admin = inbox
    for n in range(3):
        body = b'{"n": %d}' % n
        await client.post("/webhooks/sandbox", data=body, headers=signed(body, f"evt_page_{n}"))
    first = await listed(client, admin, "?limit=2")
    second = await listed(client, admin, f"?limit=2&after={first['next']}")
    ids = [i["id"] for i in first["items"] + second["items"]]
    assert ids == sorted(ids, reverse=True) and len(ids) == 3 and second["next"] is None
    refused = await client.get(INBOX, headers=writer)
    assert refused.status == 403 and (await refused.json())["required_scope"] == "admin"
    bad = await client.get(f"{INBOX}?outcome=lost", headers=admin)
    assert bad.status == 400 and (await bad.json())["field"] == "outcome"
