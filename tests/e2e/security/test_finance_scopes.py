"""Finance data is per client (issue 13, finding 2): a finance:read key sees its own client's
GL and discrepancies and no vendor-wide run; finance:all, which an admin grants, sees all."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ledger.auth import create_key
from ledger.http.keys import POOL
from ledger.log import events as ev
from ledger.log import store
from tests.harness import order_body

RUN = "scope-run"


async def _key(pool, client: str, *scopes: str) -> dict[str, str]:
    async with pool.acquire() as conn:
        _, key = await create_key(conn, name=f"{client}-key", scopes=scopes, client_id=client)
    return {"Authorization": f"Bearer {key}"}


async def _reconcile_nothing(pool) -> None:
    """A run that saw none of the vendor's records: every order in its window is missing."""
    now = datetime.now(UTC)
    started = ev.ReconciliationStarted(
        run_id=RUN,
        vendor="sandbox",
        window_start=now - timedelta(days=1),
        window_end=now + timedelta(hours=1),
        started_at=now,
    )
    done = ev.ReconciliationCompleted(run_id=RUN, records_seen=0, pages=1, completed_at=now)
    await store.append(pool, f"reconciliation:{RUN}", [started, done], 0)


async def _eventually(client, path, headers, ready):
    for _ in range(200):
        response = await client.get(path, headers=headers)
        body = await response.json()
        if response.status != 200 or ready(body):
            return response, body
    raise AssertionError(f"{path} never got there: {body}")


@pytest.mark.usefixtures("running")
async def test_finance_read_is_scoped_to_the_callers_client_and_finance_all_sees_all(running):
    client, acme_writer, _ = running
    pool = client.app[POOL]
    globex_writer = await _key(pool, "globex", "orders:write")
    for writer, amount in ((acme_writer, "10.00"), (globex_writer, "7.00")):
        body = order_body(f"scoped-order-{amount}", amount=amount, currency="EUR")
        assert (await client.post("/api/v1/orders", json=body, headers=writer)).status == 201
    await _reconcile_nothing(pool)
    acme, everyone = await _key(pool, "acme", "finance:read"), await _key(pool, "x", "finance:all")

    _, all_open = await _eventually(
        client, "/api/v1/discrepancies", everyone, lambda b: len(b["items"]) == 2
    )
    assert sorted(d["client_id"] for d in all_open["items"]) == ["acme", "globex"]
    _, mine = await _eventually(client, "/api/v1/discrepancies", acme, lambda b: b["items"])
    assert [d["client_id"] for d in mine["items"]] == ["acme"]
    # One by id: its own client's, or every client's for finance:all; another's is not found.
    for item in all_open["items"]:
        path = f"/api/v1/discrepancies/{item['id']}"
        assert await (await client.get(path, headers=everyone)).json() == item
        own_one = await client.get(path, headers=acme)
        if item["client_id"] == "acme":
            assert own_one.status == 200 and await own_one.json() == item
        else:
            problem = await own_one.json()
            assert own_one.status == 404 and problem["code"] == "discrepancy_not_found"
    unknown = await client.get("/api/v1/discrepancies/d_unknown", headers=everyone)
    assert unknown.status == 404 and (await unknown.json())["field"] == "discrepancy_id"

    def fulfilled_eur(body):
        return [d["amount"] for d in body["days"] if d["state"] == "fulfilled"]

    _, total = await _eventually(
        client, "/api/v1/gl/daily?currency=EUR", everyone, lambda b: fulfilled_eur(b) == ["17.00"]
    )
    _, own = await _eventually(client, "/api/v1/gl/daily?currency=EUR", acme, fulfilled_eur)
    assert fulfilled_eur(own) == ["10.00"] and fulfilled_eur(total) == ["17.00"]
    day = own["days"][-1]["business_date"]
    journal = await (await client.get(f"/api/v1/gl/journal?date={day}", headers=acme)).json()
    assert {line["debit"] for line in journal["lines"]} - {"0.00"} == {"10.00"}

    refused = await client.get(f"/api/v1/reconciliations/{RUN}", headers=acme)
    assert refused.status == 403 and (await refused.json())["code"] == "insufficient_scope"
    assert (await client.get(f"/api/v1/reconciliations/{RUN}", headers=everyone)).status == 200
