"""`run.py verify` and `run.py rebuild --verify` as an auditor runs them."""

import os
import subprocess

from ledger.log import store
from tests.cli import run_cli
from tests.factories import order_requested


def run(database_url: str, *args: str) -> subprocess.CompletedProcess:
    return run_cli(*args, env={**os.environ, "DATABASE_URL": database_url, "LOG_LEVEL": "warning"})


async def test_verify_passes_a_clean_log_and_names_the_first_altered_event(pool, database_url):
    for key in ("a", "b", "c"):
        await store.append(pool, f"order:c:{key}", [order_requested(key)], 0)
    assert run(database_url, "seal").returncode == 0
    clean = run(database_url, "verify")
    assert clean.returncode == 0 and clean.stdout.startswith("ok: 3 events in 3 streams, 1 seals")

    target = await pool.fetchval("SELECT position FROM events WHERE stream_id = 'order:c:b'")
    async with pool.acquire() as conn:
        await conn.execute("ALTER TABLE events DISABLE TRIGGER events_no_update_delete")
        await conn.execute(
            "UPDATE events SET data = convert_to("
            "replace(convert_from(data, 'UTF8'), '2500', '2501'), 'UTF8') WHERE position = $1",
            target,
        )
    tampered = run(database_url, "verify")
    assert tampered.returncode == 1
    assert f"FAILED: event {target} (stream order:c:b version 1)" in tampered.stdout


async def test_rebuild_verify_exits_1_and_prints_each_difference(pool, database_url):
    await store.append(pool, "order:c:a", [order_requested("a")], 0)
    assert run(database_url, "rebuild").returncode == 0
    assert run(database_url, "rebuild", "--verify", "orders").returncode == 0
    await pool.execute("UPDATE orders_view SET status = 'fulfilled'")
    drifted = run(database_url, "rebuild", "--verify", "orders")
    assert drifted.returncode == 1
    assert "orders_view[order:c:a].status: live='fulfilled' rebuilt='pending'" in drifted.stdout
    unknown = run(database_url, "rebuild", "nonsense")
    assert unknown.returncode == 2 and "unknown projection" in unknown.stderr
