"""Reconciliation over HTTP: runs against the sandbox, vendor files, and precise refusals."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from ledger.auth import create_key
from ledger.http.app import create_app
from ledger.http.keys import POOL
from ledger.log.leases import LeaseKind, release, try_lease
from ledger.reconciliation.files import file_run_id
from ledger.reconciliation.progress import load_progress
from tests.harness import order_body, sandbox, service_settings
from tests.integration.reconciliation.test_runs import observations

HEADER = "vendor_order_id,reference,status,amount,currency,created_at,updated_at"
STAMP = "2024-05-01T10:00:00Z,2024-05-01T11:00:00Z"
NOW = datetime.now(UTC)
WINDOW = {
    "from": (NOW - timedelta(hours=6)).isoformat(),
    "to": (NOW + timedelta(hours=6)).isoformat(),
}


@pytest.fixture
async def running(database_url, tmp_path):
    """The service without background workers, so only reconciliation can heal an order, and
    a sandbox that leaves orders pending: (client, admin headers, writer headers, sandbox URL)."""
    async with sandbox(fulfil_delay_ms=600_000) as (url, _):
        app = create_app(
            service_settings(url, tmp_path, sync_budget_s=0.5), database_url, background=False
        )
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            async with app[POOL].acquire() as conn:
                _, admin = await create_key(conn, name="ops", scopes=["admin"])
                _, writer = await create_key(conn, name="acme", scopes=["orders:write"])
            yield (
                client,
                {"Authorization": f"Bearer {admin}"},
                {"Authorization": f"Bearer {writer}"},
                url,
            )


async def until_completed(client: TestClient, run_id: str):
    for _ in range(200):
        progress = await load_progress(client.app[POOL], run_id)
        if progress is not None and progress.completed is not None:
            return progress
        await asyncio.sleep(0.05)
    raise AssertionError(f"run {run_id} did not complete")


async def test_a_started_run_answers_202_and_heals_a_pending_order_the_vendor_fulfilled(running):
    client, admin, writer, url = running
    placed = await client.post("/api/v1/orders", json=order_body("recon-e2e-1"), headers=writer)
    order = await placed.json()
    assert placed.status == 202 and order["status"] == "pending"
    async with aiohttp.ClientSession() as session:
        patch = {"status": "fulfilled"}
        async with session.patch(f"{url}/_admin/orders/{order['vendor_order_id']}", json=patch):
            pass
        async with session.post(
            f"{url}/_admin/orders",
            json={
                "reference": "nobody",
                "amount_minor": 100,
                "currency": "USD",
                "status": "failed",
            },
        ):
            pass
    response = await client.post(
        "/api/v1/reconciliations", json={"vendor": "sandbox", **WINDOW}, headers=admin
    )
    accepted = await response.json()
    assert response.status == 202 and accepted["status"] == "running"
    assert response.headers["Location"] == f"/api/v1/reconciliations/{accepted['run_id']}"
    progress = await until_completed(client, accepted["run_id"])
    assert progress.completed.records_seen == 2 and progress.unmatched == 1
    healed = await (await client.get("/api/v1/orders/recon-e2e-1", headers=writer)).json()
    assert healed["status"] == "fulfilled"
    trail = await (await client.get("/api/v1/orders/recon-e2e-1/events", headers=writer)).json()
    assert [e["type"] for e in trail["events"]][-2:] == ["VendorRecordObserved", "OrderFulfilled"]


async def test_an_empty_body_runs_the_previous_business_day_for_the_only_vendor(running):
    client, admin, _, _ = running
    response = await client.post("/api/v1/reconciliations", headers=admin)
    assert response.status == 202
    progress = await until_completed(client, (await response.json())["run_id"])
    span = progress.started.window_end - progress.started.window_start
    assert progress.started.vendor == "sandbox" and span == timedelta(hours=26)


async def test_starting_a_run_needs_an_admin_key(running):
    client, _, writer, _ = running
    assert (await client.post("/api/v1/reconciliations", json={})).status == 401
    refused = await client.post("/api/v1/reconciliations", json={}, headers=writer)
    assert refused.status == 403 and (await refused.json())["required_scope"] == "admin"


DAY_1, DAY_2 = "2024-05-01T00:00:00Z", "2024-05-02T00:00:00Z"
BAD_RUNS = [
    (b"{", 400, "malformed_json", "body"),
    ({"vendor": "sandbox", "window": 1}, 422, "invalid_field", "window"),
    ({"from": DAY_1.rstrip("Z"), "to": DAY_2}, 422, "invalid_field", "from"),
    ({"from": DAY_1}, 422, "incomplete_window", "to"),
    ({"from": DAY_2, "to": DAY_1}, 422, "invalid_window", "to"),
    ({"from": DAY_1, "to": "2024-07-01T00:00:00Z"}, 422, "invalid_window", "to"),
    ({"vendor": "tango"}, 422, "unknown_vendor", "vendor"),
    ({"vendor": 7}, 422, "invalid_field", "vendor"),
]


@pytest.mark.parametrize(("body", "status", "code", "field"), BAD_RUNS)
async def test_a_bad_run_request_is_refused_naming_the_field(running, body, status, code, field):
    client, admin, _, _ = running
    headers = admin | {"Content-Type": "application/json"}
    raw = body if isinstance(body, bytes) else json.dumps(body)
    response = await client.post("/api/v1/reconciliations", data=raw, headers=headers)
    problem = await response.json()
    assert (response.status, problem["code"], problem.get("field")) == (status, code, field)
    assert response.content_type == "application/problem+json"


async def test_a_run_request_that_is_not_json_is_refused_with_415(running):
    client, admin, _, _ = running
    response = await client.post(
        "/api/v1/reconciliations",
        data="vendor=sandbox",
        headers=admin | {"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status == 415


FILES = "/api/v1/reconciliations/files?vendor=sandbox"


def csv_file(*rows: str) -> str:
    return "\r\n".join([HEADER, *rows]) + "\r\n"


async def test_a_vendor_file_is_imported_once_and_answers_its_summary(running):
    client, admin, _, _ = running
    text = csv_file(
        f"vo_1,stranger,fulfilled,25.00,USD,{STAMP}", f"vo_2,other,refunded,5.00,USD,{STAMP}"
    )
    headers = admin | {"Content-Type": "text/csv"}
    first = await client.post(FILES, data=text, headers=headers)
    summary = await first.json()
    assert first.status == 201
    assert (summary["source"], summary["records_seen"], summary["unmatched"]) == ("file", 2, 2)
    again = await client.post(FILES, data=text, headers=headers)
    assert again.status == 200 and (await again.json())["already_completed"] is True
    assert len(await observations(client.app[POOL], summary["run_id"])) == 2


async def test_a_bad_vendor_file_lists_every_bad_row_and_records_nothing(running):
    client, admin, _, _ = running
    before = await client.app[POOL].fetchval("SELECT count(*) FROM events")
    text = csv_file(
        f"vo_1,r1,fulfilled,25.00,USD,{STAMP}", f"vo_2,r2,lost,2.5.0,USD,{STAMP}", "vo_3,r3"
    )
    response = await client.post(FILES, data=text, headers=admin | {"Content-Type": "text/csv"})
    problem = await response.json()
    assert response.status == 422 and problem["code"] == "file_rejected"
    located = [(e["row"], e["column"]) for e in problem["errors"]]
    assert located == [(3, "status"), (3, "amount"), (4, "*")]
    assert problem["error_count"] == 3
    assert await client.app[POOL].fetchval("SELECT count(*) FROM events") == before


@pytest.mark.parametrize(
    ("query", "content_type", "status", "field"),
    [
        ("", "text/csv", 400, "vendor"),
        ("?vendor=tango", "text/csv", 422, "vendor"),
        ("?vendor=sandbox", "application/json", 415, "Content-Type"),
    ],
)
async def test_a_file_upload_without_a_vendor_or_as_another_type_is_refused(
    running, query, content_type, status, field
):
    client, admin, _, _ = running
    response = await client.post(
        f"/api/v1/reconciliations/files{query}",
        data=csv_file(),
        headers=admin | {"Content-Type": content_type},
    )
    assert response.status == status and (await response.json())["field"] == field


async def test_a_file_another_request_is_importing_answers_409_with_retry_after(running):
    client, admin, _, _ = running
    text = csv_file(f"vo_1,stranger,fulfilled,25.00,USD,{STAMP}")
    run_id = file_run_id("sandbox", text)
    headers = admin | {"Content-Type": "text/csv"}
    async with client.app[POOL].acquire() as other_import:
        assert await try_lease(other_import, LeaseKind.RECONCILIATION, run_id)
        busy = await client.post(FILES, data=text, headers=headers)
        problem = await busy.json()
        await release(other_import, LeaseKind.RECONCILIATION, run_id)
    assert (busy.status, problem["code"]) == (409, "import_in_progress")
    assert int(busy.headers["Retry-After"]) > 0
    done = await client.post(FILES, data=text, headers=headers)
    assert done.status == 201 and (await done.json())["records_seen"] == 1


async def test_a_file_upload_may_name_the_window_it_vouches_for_both_ends_or_none(running):
    client, admin, _, _ = running
    headers = admin | {"Content-Type": "text/csv"}
    text = csv_file(f"vo_1,stranger,fulfilled,25.00,USD,{STAMP}")
    window = "&from=2024-05-01T00:00:00Z&to=2024-05-02T00:00:00Z"
    given = await client.post(FILES + window, data=text, headers=headers)
    summary = await given.json()
    assert given.status == 201, summary
    assert (summary["window_start"], summary["window_end"]) == (
        "2024-05-01T00:00:00Z",
        "2024-05-02T00:00:00Z",
    )
    half = await client.post(FILES + "&from=2024-05-01T00:00:00Z", data=text, headers=headers)
    problem = await half.json()
    assert (half.status, problem["code"], problem["field"]) == (400, "incomplete_window", "to")
