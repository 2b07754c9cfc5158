"""Each vendor's webhooks in its own scheme, over real HTTP from its double (issue 14): orders
wait at the vendor a moment and the webhook settles them; a forged copy of every webhook,
sent first under the genuine signature, is refused. Giftbit sends none."""

from __future__ import annotations

from contextlib import asynccontextmanager

import pytest

from ledger.http.keys import POOL
from ledger.orders.model import order_stream
from ledger.vendors.sandbox.server import SANDBOX_STORE
from tests.e2e.vendors.test_vendor_doubles import SECRET, VENDORS, vendors_toml
from tests.harness import (
    TEST_WEBHOOK_SECRET,
    order_body,
    sandbox,
    service,
    service_settings,
    wait_until_terminal,
)

HOOKED = [f"hooked-{i}" for i in range(3)]


@asynccontextmanager
async def hooked(vendor: str, database_url, tmp_path, port: int):
    """Orders stay pending at the vendor a moment; its webhook, signed in its scheme, is what
    settles each (the completer stays away). Every webhook is forged once first."""
    hook = f"http://127.0.0.1:{port}/webhooks/{vendor}"
    api_key = VENDORS[vendor][0]
    faults = "seed=3,webhook_forged=1.0"
    async with sandbox(
        faults, dialect=vendor, api_key=api_key, webhook_url=hook, fulfil_delay_ms=300
    ) as (url, server):
        vendors = tmp_path / "vendors.toml"
        brands = f"[vendors.{vendor}.brands]"
        secrets_line = f'webhook_secrets = ["{TEST_WEBHOOK_SECRET}"]\n'
        vendors.write_text(vendors_toml(vendor, url).replace(brands, secrets_line + brands))
        settings = service_settings(
            "", tmp_path, vendors_file=vendors, default_vendor=vendor, completer_backoff_s=600.0
        )
        async with service(database_url, settings, port=port) as (client, headers):
            for key in HOOKED:
                response = await client.post(
                    "/api/v1/orders", json=order_body(key), headers=headers
                )
                assert (await response.json())["status"] == "pending"
            settled, pending = await wait_until_terminal(client, headers, HOOKED, within_s=30)
            assert pending == [] and {o["status"] for o in settled.values()} == {"fulfilled"}
            stats = server.app[SANDBOX_STORE].stats()
            assert stats["webhooks_forged"] == stats["webhooks_sent"] == 6
            yield client.app[POOL]


async def _received(pool, field: str, value: str) -> list[str]:
    rows = await pool.fetch(
        "SELECT stream_id FROM events WHERE type = 'WebhookReceived'"
        f" AND convert_from(data, 'UTF8')::jsonb->>'{field}' = $1",
        value,
    )
    return sorted(row["stream_id"] for row in rows)


# Per vendor: what the genuine webhook that settles an order says, and what its forged copy
# (the body changed under the genuine signature) would have recorded. Tremendous names the
# order by its own id only (its CREATED may race the answer that records that id, and is kept
# on the vendor's stream): its APPROVED is the one found. Runa's come from Svix (svix-*
# headers), Reloadly's are signed over body:timestamp, Tango's in its HMAC mode.
SETTLING = {
    "tremendous": (("event_type", "ORDERS.APPROVED"), ("vendor_order_id", "ORD-FORGED")),
    "reloadly": (("reported_status", "SUCCESSFUL"), ("reported_status", "REFUNDED")),
    "runa": (("reported_status", "COMPLETED"), ("reported_status", "FAILED")),
    "tango": (("reported_status", "COMPLETE"), ("reported_status", "CANCELLED")),
}


@pytest.mark.parametrize("vendor", sorted(SETTLING))
async def test_each_vendors_webhooks_verify_in_its_scheme_and_forgeries_are_refused(
    database_url, tmp_path, monkeypatch, unused_tcp_port, vendor
):
    monkeypatch.setenv("TEST_VENDOR_SECRET", SECRET)
    (field, genuine), (forged_field, forged) = SETTLING[vendor]
    async with hooked(vendor, database_url, tmp_path, unused_tcp_port) as pool:
        settled = await _received(pool, field, genuine)
        assert settled == [order_stream("acme", key) for key in HOOKED]
        assert await _received(pool, forged_field, forged) == []
