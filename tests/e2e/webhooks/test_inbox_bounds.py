"""The vendor webhook inbox is bounded. Refused webhooks, which anyone can send, are kept at
most VENDOR_WEBHOOK_REFUSALS_KEPT_PER_MINUTE a minute per vendor and node, with their headers
cut to size; rows older than VENDOR_WEBHOOK_INBOX_DAYS are deleted, while the log keeps every
webhook it accepted."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from ledger.http.keys import POOL
from tests.e2e.webhooks.test_inbox import metric
from tests.harness import sandbox, service, service_settings, signed, webhook

FORGER_SECRET = "whsec_" + "QUFB" * 8
KEPT_PER_MINUTE = 5


@pytest.fixture
async def vendor_url():
    async with sandbox(fulfil_delay_ms=600_000) as (url, _):
        yield url


@pytest.fixture
async def running(database_url, tmp_path, vendor_url):
    settings = service_settings(
        vendor_url, tmp_path, vendor_webhook_refusals_kept_per_minute=KEPT_PER_MINUTE
    )
    async with service(database_url, settings) as (client, headers):
        yield client, headers


async def forge(client, n: int, extra_headers: dict | None = None) -> list[int]:
    body = webhook("gcl-unknown", "fulfilled", "evt_forged")
    headers = signed(body, "evt_forged", secret=FORGER_SECRET) | (extra_headers or {})
    return [
        (await client.post("/webhooks/sandbox", data=body, headers=headers)).status
        for _ in range(n)
    ]


async def inbox_count(client, outcome: str) -> int:
    return await client.app[POOL].fetchval(
        "SELECT count(*) FROM vendor_webhook_inbox WHERE outcome = $1", outcome
    )


async def test_a_flood_of_forged_webhooks_is_all_refused_but_kept_only_to_the_budget(running):
    client, _ = running
    unkept = ("ledger_webhook_refusals_unkept_total", {"vendor": "sandbox"})
    before = await metric(client, unkept[0], **unkept[1])
    assert await forge(client, 30) == [401] * 30
    assert await inbox_count(client, "refused") == KEPT_PER_MINUTE
    assert await metric(client, unkept[0], **unkept[1]) == before + 30 - KEPT_PER_MINUTE


async def test_a_signed_webhook_is_kept_when_the_refusal_budget_is_spent(running):
    client, _ = running
    await forge(client, KEPT_PER_MINUTE + 3)
    body = webhook("gcl-unknown", "fulfilled", "evt_genuine")
    answer = await client.post("/webhooks/sandbox", data=body, headers=signed(body, "evt_genuine"))
    assert answer.status == 200
    assert await inbox_count(client, "accepted") == 1
    assert (
        await client.app[POOL].fetchval(
            "SELECT count(*) FROM events WHERE type = 'WebhookReceived'"
        )
        == 1
    )


async def test_a_refusal_carrying_800_kb_of_headers_keeps_at_most_40_kb_of_them(running):
    client, _ = running
    padding = {f"X-Padding-{n}": "a" * 8000 for n in range(100)}
    assert await forge(client, 1, padding) == [401]
    row = await client.app[POOL].fetchrow(
        "SELECT octet_length(headers::text) AS size, headers->>'webhook-signature' AS signature"
        " FROM vendor_webhook_inbox"
    )
    assert row["size"] < 40 * 1024
    body = webhook("gcl-unknown", "fulfilled", "evt_forged")
    assert row["signature"] == signed(body, "evt_forged", secret=FORGER_SECRET)["webhook-signature"]


async def test_rows_past_the_retention_are_deleted_and_the_log_keeps_its_webhooks(
    database_url, tmp_path, vendor_url
):
    settings = service_settings(vendor_url, tmp_path, vendor_webhook_inbox_days=90)
    async with service(database_url, settings) as (client, _):
        for n in range(3):
            body = webhook("gcl-unknown", "fulfilled", f"evt_old_{n}")
            answer = await client.post(
                "/webhooks/sandbox", data=body, headers=signed(body, f"evt_old_{n}")
            )
            assert answer.status == 200
        await forge(client, 1)
    now = datetime.now(UTC)
    async with service(database_url, settings) as (client, _):
        pool = client.app[POOL]
        # Three accepted rows a day past the retention and one refused row a day within it.
        await pool.execute(
            "UPDATE vendor_webhook_inbox SET received_at = $1 WHERE outcome = 'accepted'",
            now - timedelta(days=91),
        )
        await pool.execute(
            "UPDATE vendor_webhook_inbox SET received_at = $1 WHERE outcome = 'refused'",
            now - timedelta(days=89),
        )
    async with service(database_url, settings) as (client, _):
        pool = client.app[POOL]
        for _ in range(100):
            if await inbox_count(client, "accepted") == 0:
                break
            await asyncio.sleep(0.05)
        assert await inbox_count(client, "accepted") == 0
        assert await inbox_count(client, "refused") == 1
        assert (
            await pool.fetchval("SELECT count(*) FROM events WHERE type = 'WebhookReceived'") == 3
        )


async def test_a_signed_webhook_that_cannot_be_read_is_counted_as_a_rejection(running):
    """Signed by the vendor yet not understood: a format change, worth an alert even once the
    refusal budget keeps it out of the inbox."""
    client, _ = running
    series = (
        "ledger_webhook_rejections_total",
        {"check": "malformed_webhook", "vendor": "sandbox"},
    )
    before = await metric(client, *series[:1], **series[1])
    garbage = b'{"not": "a webhook"}'
    for _ in range(KEPT_PER_MINUTE + 2):
        sent = await client.post("/webhooks/sandbox", data=garbage, headers=signed(garbage))
        assert sent.status == 400
    assert await metric(client, *series[:1], **series[1]) == before + KEPT_PER_MINUTE + 2
