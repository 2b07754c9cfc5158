"""Finance read routes: GL daily/journal (JSON and CSV), order listing, precise 400s."""

import asyncio
from decimal import Decimal

import pytest

from ledger.auth import create_key
from ledger.http.keys import POOL
from tests.harness import order_body


@pytest.fixture
async def finance_api(running):
    """The running service, its orders:write headers, and headers with finance:read."""
    client, headers, _ = running
    async with client.app[POOL].acquire() as conn:
        _, key = await create_key(conn, name="acme", scopes=["finance:read"])
    return client, headers, {"Authorization": f"Bearer {key}"}


async def test_orders_placed_today_show_in_the_gl_and_the_order_list(finance_api):
    client, writer, finance = finance_api
    for i in range(3):
        body = order_body(f"finance-order-{i}", amount="10.00", currency="EUR")
        assert (await client.post("/api/v1/orders", json=body, headers=writer)).status == 201
    daily = None
    for _ in range(100):
        daily = await (await client.get("/api/v1/gl/daily?currency=EUR", headers=finance)).json()
        if any(d["state"] == "fulfilled" and d["count"] == 3 for d in daily["days"]):
            break
    fulfilled = [d for d in daily["days"] if d["state"] == "fulfilled"]
    assert fulfilled[-1]["amount"] == "30.00" and fulfilled[-1]["closing_balance"] == "30.00"
    today = fulfilled[-1]["business_date"]
    download = await client.get(f"/api/v1/gl/daily.csv?from={today}&to={today}", headers=finance)
    assert download.headers["Content-Disposition"] == (
        f'attachment; filename="gl-daily-{today}-to-{today}.csv"'
    )
    csv_text = await download.text()
    for_excel = await client.get(
        f"/api/v1/gl/daily.csv?from={today}&to={today}&excel=true", headers=finance
    )
    assert (await for_excel.read()).startswith(b"\xef\xbb\xbf" + csv_text.encode()[:13])
    assert csv_text.splitlines()[0] == (
        "business_date,currency,state,count,amount,adjustment_count,adjustment_amount,closing_balance"
    )
    assert f"{today},EUR,fulfilled,3,30.00,0,0.00,30.00" in csv_text.splitlines()
    journal = await (await client.get(f"/api/v1/gl/journal?date={today}", headers=finance)).json()
    debits = sum(Decimal(line["debit"]) for line in journal["lines"])
    credits = sum(Decimal(line["credit"]) for line in journal["lines"])
    assert journal["lines"] and debits == credits
    journal_download = await client.get(f"/api/v1/gl/journal.csv?date={today}", headers=finance)
    assert f'filename="gl-journal-{today}.csv"' in journal_download.headers["Content-Disposition"]
    journal_csv = await journal_download.text()
    assert journal_csv.startswith("business_date,currency,account,debit,credit,memo,adjustment_of")

    # The list reads the orders projection, which runs apart from the GL's: wait for it too.
    for _ in range(100):
        listed = await (await client.get("/api/v1/orders?status=fulfilled", headers=finance)).json()
        if len(listed["items"]) == 3:
            break
        await asyncio.sleep(0.05)
    first = await (
        await client.get("/api/v1/orders?limit=2&status=fulfilled", headers=finance)
    ).json()
    assert len(first["items"]) == 2 and first["next"]
    rest = await (
        await client.get(f"/api/v1/orders?limit=2&after={first['next']}", headers=finance)
    ).json()
    keys = [o["idempotency_key"] for o in first["items"] + rest["items"]]
    assert keys == [f"finance-order-{i}" for i in range(3)] and rest["next"] is None


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/api/v1/gl/daily?from=2026-03-10&to=2026-03-01", "from"),
        ("/api/v1/gl/daily?from=2026-02-30", "from"),
        ("/api/v1/gl/daily?to=yesterday", "to"),
        ("/api/v1/gl/daily?currency=XXX", "currency"),
        ("/api/v1/gl/daily?from=2020-01-01&to=2026-01-01", "to"),
        ("/api/v1/gl/journal", "date"),
        ("/api/v1/gl/journal.csv?date=2026-1-1", "date"),
        ("/api/v1/orders?status=lost", "status"),
        ("/api/v1/orders?limit=0", "limit"),
        ("/api/v1/orders?limit=%C2%B2", "limit"),  # a digit to str.isdigit, not to int()
        # A cursor naming 0001-01-01T00:00:00+01:00, which has no UTC equivalent to query by.
        ("/api/v1/orders?after=WyIwMDAxLTAxLTAxVDAwOjAwOjAwKzAxOjAwIiwieCJd", "after"),
        ("/api/v1/discrepancies?after=WyIwMDAxLTAxLTAxVDAwOjAwOjAwKzAxOjAwIiwieCJd", "after"),
        ("/api/v1/orders?after=not-a-cursor", "after"),
        ("/api/v1/orders?from=2026-03-10&to=2026-03-01", "from"),
        ("/api/v1/discrepancies?type=bogus", "type"),
    ],
)
async def test_bad_query_parameters_get_a_400_naming_the_parameter(finance_api, path, field):
    client, _, finance = finance_api
    response = await client.get(path, headers=finance)
    problem = await response.json()
    assert response.status == 400, problem
    assert problem["field"] == field


async def test_finance_routes_need_the_finance_scope(finance_api):
    client, writer, _ = finance_api
    response = await client.get("/api/v1/gl/daily", headers=writer)
    assert response.status == 403


async def test_a_caller_without_a_key_is_told_so_before_anything_about_its_query(finance_api):
    client, _, _ = finance_api
    for path in ("/api/v1/gl/daily", "/api/v1/gl/daily.csv"):
        answer = await client.get(f"{path}?from=2026-02-01&to=2026-01-01")
        assert answer.status == 401, (path, await answer.text())
