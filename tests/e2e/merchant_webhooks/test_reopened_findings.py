"""A resolved finding opens again when a later run finds it changed (the vendor failed the order a
person had acknowledged as a lagging record, and we sold its card): it is announced again, and
may be resolved again, once. Seen again unchanged, it stays resolved and nothing is announced.
(A vendor's refund needs no person: reconciliation records it on the order itself.)"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import aiohttp

from ledger.http.keys import POOL
from tests.e2e.merchant_webhooks.conftest import hooks_with
from tests.e2e.merchant_webhooks.receiver import receiving
from tests.harness import window_around_now


async def set_at_vendor(vendor_url: str, vendor_order_id: str, status: str) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.patch(
            f"{vendor_url}/_admin/orders/{vendor_order_id}", json={"status": status}
        ) as patched,
    ):
        assert patched.status == 200, await patched.text()


async def test_a_resolved_finding_that_changes_opens_again_and_is_resolved_again(
    database_url, tmp_path
):
    async with receiving() as (_, _), hooks_with(database_url, tmp_path) as hooks:
        operator = await hooks.key("orders:write", "finance:all", "admin", client_id="ops")
        await hooks.endpoint(
            headers=operator,
            events=["discrepancy.opened", "discrepancy.resolved", "reconciliation.completed"],
        )
        order = await hooks.order("wh-reopen-1")
        assert order["status"] == "fulfilled"
        await set_at_vendor(hooks.vendor_url, order["vendor_order_id"], "pending")

        async def reconcile() -> str:
            window = window_around_now(datetime.now(UTC))
            started = await hooks.client.post(
                "/api/v1/reconciliations", json=window, headers=operator
            )
            assert started.status == 202, await started.text()
            run_id = (await started.json())["run_id"]
            await hooks.receiver.until(
                lambda r: (
                    run_id
                    in {d.event["data"]["run_id"] for d in r.of_type("reconciliation.completed")}
                )
            )
            return run_id

        async def resolve(finding_id: str, action: str) -> aiohttp.ClientResponse:
            return await hooks.client.post(
                f"/api/v1/discrepancies/{finding_id}/resolve",
                json={"action": action, "note": "checked with the vendor's support"},
                headers=operator,
            )

        first_run = await reconcile()
        [opened] = hooks.receiver.of_type("discrepancy.opened")
        finding = opened.event["data"]
        assert (finding["type"], finding["vendor_status"], finding["state"]) == (
            "status_mismatch",
            "pending",
            "open",
        )
        assert finding["first_seen_run"] == first_run and finding["reopened_run"] is None
        assert (await resolve(finding["id"], "acknowledge")).status == 200
        await hooks.receiver.until(lambda r: len(r.of_type("discrepancy.resolved")) == 1)

        # Seen again as it was resolved: it stays resolved, and nothing more is announced.
        await reconcile()
        listed = await hooks.get("/api/v1/discrepancies?type=status_mismatch", operator)
        assert [(d["id"], d["state"]) for d in listed["items"]] == [(finding["id"], "resolved")]
        assert len(hooks.receiver.of_type("discrepancy.opened")) == 1
        again = await resolve(finding["id"], "acknowledge")
        assert again.status == 409 and (await again.json())["code"] == "already_resolved"

        # The vendor then fails it: the finding is not what was resolved any more.
        await set_at_vendor(hooks.vendor_url, order["vendor_order_id"], "failed")
        third_run = await reconcile()
        await hooks.receiver.until(lambda r: len(r.of_type("discrepancy.opened")) == 2)
        first, reopened = hooks.receiver.of_type("discrepancy.opened")
        assert reopened.headers["webhook-id"] != first.headers["webhook-id"]
        data = reopened.event["data"]
        assert (data["id"], data["state"], data["vendor_status"]) == (
            finding["id"],
            "open",
            "failed",
        )
        assert data["reopened_run"] == third_run and data["first_seen_run"] == first_run
        assert "reopened" in data["history"][-1]["what"]

        # Two people resolve the new finding at once: one correction, one 409.
        answers = await asyncio.gather(
            resolve(finding["id"], "accept_vendor_status"),
            resolve(finding["id"], "accept_vendor_status"),
        )
        assert sorted(a.status for a in answers) == [200, 409]
        later = await resolve(finding["id"], "accept_vendor_status")
        assert later.status == 409 and (await later.json())["code"] == "already_resolved"
        logged = await hooks.client.app[POOL].fetch(
            "SELECT type FROM events WHERE type IN ('DiscrepancyResolved', 'OrderFailed')"
        )
        assert sorted(r["type"] for r in logged) == [
            "DiscrepancyResolved",
            "DiscrepancyResolved",
            "OrderFailed",
        ]
        await hooks.receiver.until(lambda r: len(r.of_type("discrepancy.resolved")) == 2)
        corrected = await hooks.get(f"/api/v1/orders/{order['idempotency_key']}", hooks.headers)
        assert corrected["status"] == "failed"
