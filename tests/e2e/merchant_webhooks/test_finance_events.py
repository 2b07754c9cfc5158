"""Finance endpoints hear what reconciliation finds: a discrepancy opened (its client's, or
every client's for finance:all), resolved, and a run completed (finance:all only)."""

from __future__ import annotations

from datetime import UTC, datetime

import aiohttp
from standardwebhooks import Webhook

from tests.e2e.merchant_webhooks.conftest import hooks_with
from tests.e2e.merchant_webhooks.receiver import receiving
from tests.harness import lose_at_vendor, window_around_now


async def test_a_run_announces_its_findings_and_its_completion_to_those_who_may_see_them(
    database_url, tmp_path
):
    async with (
        receiving() as (own_url, own),
        receiving() as (other_url, other),
        hooks_with(database_url, tmp_path) as hooks,
    ):
        operator = await hooks.key("orders:write", "finance:all", "admin", client_id="ops")
        every = await hooks.endpoint(
            headers=operator,
            events=["discrepancy.opened", "discrepancy.resolved", "reconciliation.completed"],
        )
        acme_finance = await hooks.key("orders:write", "finance:read")
        await hooks.endpoint(headers=acme_finance, url=own_url, events=["discrepancy.opened"])
        globex = await hooks.key("orders:write", "finance:read", client_id="globex")
        await hooks.endpoint(headers=globex, url=other_url)
        order = await hooks.order("wh-finance-1")
        await lose_at_vendor(hooks.vendor_url, order["vendor_order_id"])
        window = window_around_now(datetime.now(UTC))
        started = await hooks.client.post("/api/v1/reconciliations", json=window, headers=operator)
        assert started.status == 202
        run_id = (await started.json())["run_id"]
        await hooks.receiver.until(
            lambda r: (
                {"discrepancy.opened", "reconciliation.completed"}
                <= {d.event["type"] for d in r.deliveries}
            )
        )
        verifier = Webhook(every["secret"])
        by_type = {
            d.event["type"]: verifier.verify(d.body, d.headers) for d in hooks.receiver.deliveries
        }
        opened = by_type["discrepancy.opened"]["data"]
        assert (opened["type"], opened["client_id"], opened["state"]) == (
            "missing_at_vendor",
            "acme",
            "open",
        )
        completed = by_type["reconciliation.completed"]["data"]
        assert completed["run_id"] == run_id and completed["counts"]["missing_at_vendor"] == 1
        await own.until(lambda r: len(r.deliveries) == 1)
        assert own.deliveries[0].event["data"]["id"] == opened["id"]
        resolved = await hooks.client.post(
            f"/api/v1/discrepancies/{opened['id']}/resolve",
            json={"action": "acknowledge", "note": "vendor lost it; reissued by support"},
            headers=operator,
        )
        assert resolved.status == 200, await resolved.text()
        await hooks.receiver.until(
            lambda r: "discrepancy.resolved" in {d.event["type"] for d in r.deliveries}
        )
        [resolution] = hooks.receiver.of_type("discrepancy.resolved")
        assert resolution.event["data"]["id"] == opened["id"]
        assert resolution.event["data"]["state"] != "open"
        # The order's own events are acme's: the operator's endpoint never hears them.
        assert not [d for d in hooks.receiver.deliveries if d.event["type"].startswith("order.")]
        assert other.deliveries == []  # globex's finance endpoint: none of acme's findings


async def test_a_finding_the_run_heals_itself_is_not_announced_but_the_order_it_moved_is(
    database_url, tmp_path
):
    # Orders stay pending at the vendor and the completer stays away: only the run moves one.
    async with (
        receiving() as (operator_url, operator_receiver),
        hooks_with(
            database_url,
            tmp_path,
            fulfil_delay_ms=3_600_000,
            sync_budget_s=0.5,
            completer_backoff_s=600.0,
        ) as hooks,
    ):
        operator = await hooks.key("finance:all", "orders:write", "admin", client_id="ops")
        await hooks.endpoint(
            headers=operator, url=operator_url, events=["reconciliation.completed"]
        )
        acme = await hooks.key("orders:write", "finance:read")
        await hooks.endpoint(headers=acme)
        order = await hooks.order("wh-healed-1", status=202)
        async with (
            aiohttp.ClientSession() as session,
            session.patch(
                f"{hooks.vendor_url}/_admin/orders/{order['vendor_order_id']}",
                json={"status": "fulfilled"},  # silently: no vendor webhook says so
            ) as patched,
        ):
            assert patched.status == 200
        window = window_around_now(datetime.now(UTC))
        started = await hooks.client.post("/api/v1/reconciliations", json=window, headers=operator)
        assert started.status == 202
        await operator_receiver.until(lambda r: len(r.deliveries) == 1)
        completed = operator_receiver.deliveries[0].event["data"]
        assert completed["counts"]["status_mismatch"] == 1
        assert completed["counts"]["auto_resolved"] == 1
        # Announced in the transaction that announced the run: acme's queue is final now.
        await hooks.receiver.until(
            lambda r: (
                [d.event["type"] for d in r.deliveries] == ["order.pending", "order.fulfilled"]
            )
        )
        queued = await hooks.get("/api/v1/webhook-events", headers=acme)
        assert [e["type"] for e in queued["items"]] == ["order.pending", "order.fulfilled"]
