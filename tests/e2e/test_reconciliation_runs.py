"""Reconciliation over HTTP and the CLI: runs against the sandbox, vendor files, bad input."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import aiohttp
import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer

from ledger.auth import create_key
from ledger.http.app import create_app
from ledger.http.keys import POOL
from ledger.reconciliation_progress import load_progress
from tests.e2e.orders_harness import (
    TEST_WEBHOOK_SECRET,
    order_body,
    sandbox,
    service_settings,
)
from tests.integration.test_reconciliation_runs import observations

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
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


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        (b"{", 400, "malformed_json", None),
        (b'{"vendor": "sandbox", "window": 1}', 422, "invalid_field", "window"),
        (
            b'{"from": "2024-05-01T00:00:00", "to": "2024-05-02T00:00:00Z"}',
            422,
            "invalid_field",
            "from",
        ),
        (b'{"from": "2024-05-01T00:00:00Z"}', 422, "incomplete_window", "to"),
        (
            b'{"from": "2024-05-02T00:00:00Z", "to": "2024-05-01T00:00:00Z"}',
            422,
            "invalid_window",
            "to",
        ),
        (
            b'{"from": "2024-01-01T00:00:00Z", "to": "2024-03-01T00:00:00Z"}',
            422,
            "invalid_window",
            "to",
        ),
        (b'{"vendor": "tango"}', 422, "unknown_vendor", "vendor"),
        (b'{"vendor": 7}', 422, "invalid_field", "vendor"),
    ],
)
async def test_a_bad_run_request_is_refused_naming_the_field(running, body, status, code, field):
    client, admin, _, _ = running
    headers = admin | {"Content-Type": "application/json"}
    response = await client.post("/api/v1/reconciliations", data=body, headers=headers)
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


def csv_file(*rows: str) -> str:
    return "\r\n".join([HEADER, *rows]) + "\r\n"


async def test_a_vendor_file_is_imported_once_and_answers_its_summary(running):
    client, admin, _, _ = running
    text = csv_file(
        f"vo_1,stranger,fulfilled,25.00,USD,{STAMP}", f"vo_2,other,refunded,5.00,USD,{STAMP}"
    )
    headers = admin | {"Content-Type": "text/csv"}
    first = await client.post(
        "/api/v1/reconciliations/files?vendor=sandbox", data=text, headers=headers
    )
    summary = await first.json()
    assert first.status == 201
    assert (summary["source"], summary["records_seen"], summary["unmatched"]) == ("file", 2, 2)
    again = await client.post(
        "/api/v1/reconciliations/files?vendor=sandbox", data=text, headers=headers
    )
    assert again.status == 200 and (await again.json())["already_completed"] is True
    assert len(await observations(client.app[POOL], summary["run_id"])) == 2


async def test_a_bad_vendor_file_lists_every_bad_row_and_records_nothing(running):
    client, admin, _, _ = running
    before = await client.app[POOL].fetchval("SELECT count(*) FROM events")
    text = csv_file(
        f"vo_1,r1,fulfilled,25.00,USD,{STAMP}", f"vo_2,r2,lost,2.5.0,USD,{STAMP}", "vo_3,r3"
    )
    response = await client.post(
        "/api/v1/reconciliations/files?vendor=sandbox",
        data=text,
        headers=admin | {"Content-Type": "text/csv"},
    )
    problem = await response.json()
    assert response.status == 422 and problem["code"] == "file_rejected"
    assert [(e["row"], e["column"]) for e in problem["errors"]] == [
        (3, "status"),
        (3, "amount"),
        (4, "*"),
    ]
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


def cli(database_url: str, sandbox_url: str, tmp_path, *args: str) -> subprocess.CompletedProcess:
    env = os.environ | {
        "DATABASE_URL": database_url,
        "SANDBOX_URL": sandbox_url,
        "SANDBOX_WEBHOOK_SECRET": TEST_WEBHOOK_SECRET,
        "DATA_DIR": str(tmp_path),
    }
    return subprocess.run(
        [sys.executable, "run.py", "reconcile", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_the_cli_prints_each_bad_row_and_exits_1_on_a_rejected_file(database_url, tmp_path):
    path = tmp_path / "vendor.csv"
    path.write_text(
        csv_file(f"vo_1,r1,fulfilled,25.001,USD,{STAMP}", f"vo_2,r2,fulfilled,1.00,usd,{STAMP}")
    )
    done = await asyncio.to_thread(
        cli,
        database_url,
        "http://127.0.0.1:9",
        tmp_path,
        "--file",
        str(path),
        "--vendor",
        "sandbox",
    )
    assert done.returncode == 1
    lines = [line for line in done.stderr.splitlines() if line.startswith("row ")]
    assert lines[0].startswith("row 2, column amount: USD amounts have at most 2 decimal places")
    assert lines[1].startswith("row 3, column currency: unknown currency")


async def test_the_cli_imports_a_good_file_and_prints_its_summary(database_url, tmp_path):
    path = tmp_path / "vendor.csv"
    path.write_text(csv_file(f"vo_1,r1,fulfilled,25.00,USD,{STAMP}"))
    done = await asyncio.to_thread(
        cli,
        database_url,
        "http://127.0.0.1:9",
        tmp_path,
        "--file",
        str(path),
        "--vendor",
        "sandbox",
    )
    assert done.returncode == 0, done.stderr
    assert (
        done.stdout.startswith("run file-sandbox-")
        and "1 records, 1 pages, 1 unmatched" in done.stdout
    )


async def test_the_cli_reconciles_a_window_with_the_sandbox_and_refuses_a_reversed_one(
    database_url, tmp_path
):
    async with sandbox() as (url, _), aiohttp.ClientSession() as session:
        for reference in ("a", "b", "c"):
            body = {
                "reference": reference,
                "amount_minor": 100,
                "currency": "USD",
                "status": "fulfilled",
            }
            async with session.post(f"{url}/_admin/orders", json=body):
                pass
        done = await asyncio.to_thread(
            cli, database_url, url, tmp_path, "--from", WINDOW["from"], "--to", WINDOW["to"]
        )
        reversed_ = await asyncio.to_thread(
            cli, database_url, url, tmp_path, "--from", WINDOW["to"], "--to", WINDOW["from"]
        )
    assert done.returncode == 0, done.stderr
    assert (
        done.stdout.startswith("run manual-sandbox-")
        and "3 records, 1 pages, 3 unmatched" in done.stdout
    )
    assert reversed_.returncode == 2 and "--to" in reversed_.stderr
    run_id = done.stdout.split()[1].rstrip(":")
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
    try:
        assert len(await observations(pool, run_id)) == 3
        assert (await load_progress(pool, run_id)).completed is not None
    finally:
        await pool.close()
