"""Digests kept outside the database catch what seals inside it cannot (issue 13, finding 4):
an owner who rewrites an event, recomputes its stream's chain and re-seals passes `verify`,
and fails `verify --digest` against a digest taken before."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess

from aiohttp import web
from aiohttp.test_utils import TestServer

from ledger.log import seals, store
from tests.cli import run_cli
from tests.factories import order_requested
from tests.harness import order_body, sandbox, service, service_settings


def run(database_url: str, *args: str) -> subprocess.CompletedProcess:
    return run_cli(*args, env={**os.environ, "DATABASE_URL": database_url, "LOG_LEVEL": "warning"})


async def _rewrite_as_an_owner_would(pool, stream_id: str) -> None:
    """Change an amount, recompute the stream's hash chain, and re-seal from scratch."""
    async with pool.acquire() as conn, conn.transaction():
        for table in ("events", "ledger_seals"):
            await conn.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
        await conn.execute(
            "UPDATE events SET data = convert_to(replace(convert_from(data, 'UTF8'),"
            " '2500', '2600'), 'UTF8') WHERE stream_id = $1",
            stream_id,
        )
        prev = seals.GENESIS
        for row in await conn.fetch(
            "SELECT position, version, type, data FROM events WHERE stream_id = $1"
            " ORDER BY version",
            stream_id,
        ):
            prev = seals.link_hash(prev, stream_id, row["version"], row["type"], row["data"])
            await conn.execute("UPDATE events SET hash = $1 WHERE position = $2", prev, row[0])
        await conn.execute("DELETE FROM ledger_seals")
        for table in ("events", "ledger_seals"):
            await conn.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")
    async with pool.acquire() as conn:
        await seals.seal(conn)


async def test_a_rewrite_with_recomputed_chains_and_seals_is_caught_by_a_kept_digest(
    pool, database_url, tmp_path
):
    for key in ("a", "b", "c"):
        await store.append(pool, f"order:c:{key}", [order_requested(key)], 0)
    taken = run(database_url, "digest")
    assert taken.returncode == 0, taken.stderr
    kept = taken.stdout.strip()  # one JSON line and nothing else: `>> store` keeps only it
    assert set(json.loads(kept)) == {"upto_tx_id", "upto_position", "digest", "sealed_at"}
    assert run(database_url, "verify", "--digest", kept).returncode == 0

    await store.append(pool, "order:c:d", [order_requested("d")], 0)
    await _rewrite_as_an_owner_would(pool, "order:c:b")
    plain = run(database_url, "verify")
    assert plain.returncode == 0, plain.stdout  # the forgery is self-consistent
    (tmp_path / "digests.jsonl").write_text(kept + "\n")
    caught = run(database_url, "verify", "--digest", str(tmp_path / "digests.jsonl"))
    assert caught.returncode == 1, caught.stdout
    assert "FAILED:" in caught.stdout and "from the start of the log" in caught.stdout


def test_a_digest_that_cannot_be_read_is_a_usage_error_naming_the_line(database_url, tmp_path):
    (tmp_path / "bad.jsonl").write_text('{"upto_tx_id": 1}\n')
    result = run(database_url, "verify", "--digest", str(tmp_path / "bad.jsonl"))
    assert result.returncode == 2 and "line 1" in result.stderr and result.stdout == ""


def test_an_empty_digest_argument_is_a_usage_error_not_a_check_skipped(database_url):
    """`verify --digest "$DIGESTS"` with the variable unset checked nothing and passed."""
    result = run(database_url, "verify", "--digest", "")
    assert result.returncode == 2 and "--digest" in result.stderr


def test_digest_of_an_empty_log_prints_nothing_a_store_would_keep(database_url):
    """Appended to a store by `digest >> store`, its prose broke every later verify."""
    result = run(database_url, "digest")
    assert result.returncode == 1 and result.stdout == ""
    assert "the log is empty" in result.stderr


async def test_serve_publishes_each_new_digest_to_a_file_and_to_a_url(database_url, tmp_path):
    received: list[bytes] = []

    async def store_digest(request: web.Request) -> web.Response:
        received.append(await request.read())
        return web.Response(status=201)

    receiver = web.Application()
    receiver.router.add_post("/digests", store_digest)
    async with TestServer(receiver, host="127.0.0.1") as write_once, sandbox() as (url, _):
        path = tmp_path / "digests.jsonl"
        targets = {str(path): path.exists, str(write_once.make_url("/digests")): lambda: received}
        for target, published in targets.items():
            settings = service_settings(url, tmp_path, seal_interval_s=0.05, digest_publish=target)
            async with service(database_url, settings) as (client, headers):
                body = order_body(f"digested-{len(received)}")
                assert (await client.post("/api/v1/orders", json=body, headers=headers)).ok
                for _ in range(200):
                    if published():
                        break
                    await asyncio.sleep(0.05)
    lines = (tmp_path / "digests.jsonl").read_text().splitlines()
    assert lines and received, (lines, received)
    assert run(database_url, "verify", "--digest", str(tmp_path / "digests.jsonl")).returncode == 0
    assert run(database_url, "verify", "--digest", received[-1].decode()).returncode == 0
