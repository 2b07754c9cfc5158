"""An endpoint belongs to its client, but what it hears follows the finance scope of the key
that made it. A key of the same client without that scope neither reads those announcements
in the webhook-events history nor changes where they go (url, secret, recovery, deletion)."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.e2e.merchant_webhooks.conftest import hooks_with
from tests.e2e.merchant_webhooks.receiver import receiving
from tests.harness import lose_at_vendor, window_around_now

FINANCE_EVENTS = ("discrepancy.", "reconciliation.")


def finance_items(items: list[dict]) -> list[dict]:
    return [i for i in items if i["type"].startswith(FINANCE_EVENTS)]


async def test_a_key_without_the_endpoints_finance_scope_neither_reads_nor_redirects_it(
    database_url, tmp_path
):
    async with (
        receiving() as (acme_url, acme_receiver),
        hooks_with(database_url, tmp_path) as hooks,
    ):
        operator = await hooks.key("orders:write", "finance:all", "admin", client_id="ops")
        every = await hooks.endpoint(
            headers=operator, events=["discrepancy.opened", "reconciliation.completed"]
        )
        acme_finance = await hooks.key("orders:write", "finance:read")
        await hooks.endpoint(
            headers=acme_finance, url=acme_url, events=["discrepancy.opened", "order.fulfilled"]
        )
        order = await hooks.order("wh-scope-1")
        await lose_at_vendor(hooks.vendor_url, order["vendor_order_id"])
        window = window_around_now(datetime.now(UTC))
        started = await hooks.client.post("/api/v1/reconciliations", json=window, headers=operator)
        assert started.status == 202, await started.text()
        await hooks.receiver.until(
            lambda r: (
                {"discrepancy.opened", "reconciliation.completed"}
                <= {d.event["type"] for d in r.deliveries}
            )
        )
        await acme_receiver.until(lambda r: len(r.deliveries) == 2)

        # Those who may see them do: the operator, and acme's finance key.
        seen = finance_items((await hooks.get("/api/v1/webhook-events", operator))["items"])
        assert {i["type"] for i in seen} == {"discrepancy.opened", "reconciliation.completed"}
        acme_seen = (await hooks.get("/api/v1/webhook-events", acme_finance))["items"]
        assert [i["type"] for i in finance_items(acme_seen)] == ["discrepancy.opened"]

        # The same clients' keys without finance scope see none of them, nor can resend one.
        ops_writer = await hooks.key("orders:write", client_id="ops")
        ops_items = (await hooks.get("/api/v1/webhook-events", ops_writer))["items"]
        assert finance_items(ops_items) == []
        acme_writer = await hooks.key("orders:write")
        acme_items = (await hooks.get("/api/v1/webhook-events", acme_writer))["items"]
        assert finance_items(acme_items) == []
        assert [i["type"] for i in acme_items] == ["order.fulfilled"], "its orders' are its own"
        resent = await hooks.client.post(
            f"/api/v1/webhook-events/{seen[0]['id']}/resend", json={}, headers=ops_writer
        )
        assert resent.status == 404

        # Nor change where the operator's endpoint sends them.
        path = f"/api/v1/webhook-endpoints/{every['endpoint']['id']}"
        changes = [
            ("PATCH", path, {"url": "http://127.0.0.1:9/elsewhere"}),
            ("POST", f"{path}/recover", {"since": "1970-01-01T00:00:00Z"}),
            ("POST", f"{path}/rotate-secret", {}),
            ("DELETE", path, None),
        ]
        for method, url, body in changes:
            answer = await hooks.client.request(method, url, json=body, headers=ops_writer)
            problem = await answer.json()
            assert answer.status == 403, (method, url, problem)
            assert problem["code"] == "insufficient_scope"
            assert problem["required_scope"] == "finance:all"
        unchanged = await hooks.get(path, operator)
        assert unchanged["url"] == every["endpoint"]["url"]  # and not deleted: found
        # The operator itself still may.
        moved = await hooks.client.patch(path, json={"description": "ops"}, headers=operator)
        assert moved.status == 200, await moved.text()
