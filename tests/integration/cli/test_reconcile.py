"""`run.py reconcile` as an operator runs it: a subprocess against PostgreSQL and the sandbox."""

from __future__ import annotations

import asyncio
import os
import subprocess
from datetime import UTC, datetime, timedelta

import aiohttp
import asyncpg

from ledger.reconciliation.progress import load_progress
from tests.cli import run_cli
from tests.harness import TEST_WEBHOOK_SECRET, sandbox
from tests.integration.reconciliation.test_runs import observations

HEADER = "vendor_order_id,reference,status,amount,currency,created_at,updated_at"
STAMP = "2024-05-01T10:00:00Z,2024-05-01T11:00:00Z"
NOW = datetime.now(UTC)
WINDOW = {
    "from": (NOW - timedelta(hours=6)).isoformat(),
    "to": (NOW + timedelta(hours=6)).isoformat(),
}
# Nothing listens there: file imports must not need the vendor.
NO_VENDOR = "http://127.0.0.1:9"


def csv_file(*rows: str) -> str:
    return "\r\n".join([HEADER, *rows]) + "\r\n"


def cli(database_url: str, sandbox_url: str, tmp_path, *args: str) -> subprocess.CompletedProcess:
    env = os.environ | {
        "DATABASE_URL": database_url,
        "SANDBOX_URL": sandbox_url,
        "SANDBOX_WEBHOOK_SECRET": TEST_WEBHOOK_SECRET,
        "DATA_DIR": str(tmp_path),
    }
    return run_cli("reconcile", *args, env=env)


async def import_file(database_url: str, tmp_path, *rows: str) -> subprocess.CompletedProcess:
    """`reconcile --file` with a vendor file of these rows; no vendor is reachable."""
    path = tmp_path / "vendor.csv"
    path.write_text(csv_file(*rows))
    args = ("--file", str(path), "--vendor", "sandbox")
    return await asyncio.to_thread(cli, database_url, NO_VENDOR, tmp_path, *args)


async def test_the_cli_prints_each_bad_row_and_exits_1_on_a_rejected_file(database_url, tmp_path):
    done = await import_file(
        database_url,
        tmp_path,
        f"vo_1,r1,fulfilled,25.001,USD,{STAMP}",
        f"vo_2,r2,fulfilled,1.00,usd,{STAMP}",
    )
    assert done.returncode == 1
    lines = [line for line in done.stderr.splitlines() if line.startswith("row ")]
    assert lines[0].startswith("row 2, column amount: USD amounts have at most 2 decimal places")
    assert lines[1].startswith("row 3, column currency: unknown currency")


async def test_the_cli_imports_a_good_file_and_prints_its_summary(database_url, tmp_path):
    done = await import_file(database_url, tmp_path, f"vo_1,r1,fulfilled,25.00,USD,{STAMP}")
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
