"""A new user's first run: `serve` with no PostgreSQL and no vendor configured."""

import asyncio
import signal
import socket
import subprocess

import aiohttp
import asyncpg
import pytest

from ledger.database_url import with_login, with_role
from ledger.db import embedded_database_url
from tests.cli import start_cli, without_database_url


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_serve_with_defaults_takes_an_order_from_the_in_process_sandbox(tmp_path):
    port, sandbox_port = free_port(), free_port()
    env = without_database_url()
    env.update(DATA_DIR=str(tmp_path), PORT=str(port), SANDBOX_PORT=str(sandbox_port))
    server = start_cli(env=env, stderr=subprocess.PIPE)
    try:
        key_file = tmp_path / "admin-api-key"
        async with aiohttp.ClientSession() as session:
            for _ in range(300):
                if key_file.exists():
                    try:
                        async with session.get(f"http://127.0.0.1:{port}/readyz") as r:
                            if r.status == 200:
                                break
                    except aiohttp.ClientError:
                        pass
                await asyncio.sleep(0.1)
            assert oct(key_file.stat().st_mode & 0o777) == "0o600"
            headers = {"Authorization": f"Bearer {key_file.read_text().strip()}"}
            body = {
                "idempotency_key": "first-order-1",
                "customer_id": "c",
                "brand_id": "b",
                "amount": "10.00",
                "currency": "EUR",
            }
            async with session.post(
                f"http://127.0.0.1:{port}/api/v1/orders", json=body, headers=headers
            ) as r:
                order = await r.json()
                assert r.status == 201, order
            assert order["status"] == "fulfilled" and order["card"]["code"]
            async with session.get(f"http://127.0.0.1:{sandbox_port}/_admin/stats") as r:
                assert (await r.json())["orders"] == 1
            async with session.get(f"http://127.0.0.1:{port}/readyz") as r:
                assert (await r.json())["checks"]["database_role"] == "service role"
        await _the_embedded_service_role_cannot_rewrite_the_log(tmp_path)
    finally:
        server.send_signal(signal.SIGTERM)
        _, stderr = server.communicate(timeout=30)
    assert "created a local admin API key" in stderr
    assert headers["Authorization"].split()[1] not in stderr, "the key itself is never logged"


async def _the_embedded_service_role_cannot_rewrite_the_log(data_dir) -> None:
    """The embedded server is set up as a deployment should be: serve's login is a member of
    the service role, which may read and append to the log and nothing more."""
    superuser = embedded_database_url(data_dir)
    service = with_role(with_login(superuser, "ledger_service_login"), "ledger_service")
    conn = await asyncpg.connect(service)
    try:
        for statement in (
            "ALTER TABLE events DISABLE TRIGGER events_no_update_delete",
            "UPDATE events SET data = data",
            "DELETE FROM events",
            "TRUNCATE events",
        ):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute(statement)
    finally:
        await conn.close()
