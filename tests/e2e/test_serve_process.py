"""`run.py serve` as a process: it listens at once and answers unready while its database is
unusable, serves once migrations are applied, answers requests aiohttp's parser refuses as
problem+json, and stops promptly on SIGTERM (issue 13)."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess

import aiohttp
import asyncpg

from ledger.database_url import with_login, with_role
from tests.cli import run_cli, start_cli
from tests.e2e.orders.test_crash_recovery import env_for, free_port, wait_for

ROLE = "ledger_service"
LOGIN = "ledger_test_waiting"
# serve retries every MIGRATIONS_WAIT_S (5 s); twice that and the start itself.
READY_WITHIN_S = 30


async def _service_login(url: str) -> str:
    """A login that is a member of the service role, as an operator would make it."""
    conn = await asyncpg.connect(url)
    try:
        for statement in (
            f"CREATE ROLE {ROLE} NOLOGIN",
            f"CREATE ROLE {LOGIN} LOGIN IN ROLE {ROLE}",
        ):
            await conn.execute(
                f"DO $$ BEGIN {statement}; EXCEPTION WHEN duplicate_object THEN NULL; END $$"
            )
    finally:
        await conn.close()
    return with_role(with_login(url, LOGIN), ROLE)


async def _readiness(api: str) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as session, session.get(api + "/readyz") as response:
        return response.status, await response.json()


async def _raw(port: int, request: bytes) -> tuple[int, dict[str, str], bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    await writer.drain()
    raw = await reader.read()
    writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines)
    return int(status_line.split()[1]), headers, body


async def _stopped(server: subprocess.Popen) -> tuple[int, str]:
    server.send_signal(signal.SIGTERM)
    _, stderr = await asyncio.to_thread(server.communicate, timeout=30)
    return server.returncode, stderr


async def test_serve_answers_unready_until_migrations_are_applied_then_serves(
    empty_database_url, tmp_path
):
    port = free_port()
    service_url = await _service_login(empty_database_url)
    sandbox_port = str(free_port())
    env = env_for(
        service_url, tmp_path, PORT=str(port), SANDBOX_PORT=sandbox_port, LOG_LEVEL="info"
    )
    server = start_cli("serve", env=env, stderr=subprocess.PIPE)
    api = f"http://127.0.0.1:{port}"
    try:
        await wait_for(api + "/healthz")
        # The port opens before the first connection attempt returns: until then the checks
        # say the database is "connecting", which is unready too.
        for _ in range(READY_WITHIN_S * 4):
            status, report = await _readiness(api)
            if report["checks"].get("database") != "connecting":
                break
            await asyncio.sleep(0.25)
        assert status == 503 and "pending" in report["checks"]["pending_migrations"], report
        async with (
            aiohttp.ClientSession() as session,
            session.post(api + "/api/v1/orders", json={}) as refused,
        ):
            problem = await refused.json(content_type=None)
            assert refused.status == 503 and problem["code"] == "not_ready", problem
            assert refused.headers["Retry-After"] == "5"
            assert refused.content_type == "application/problem+json"

        migrated = await asyncio.to_thread(
            run_cli, "migrate", env=env | {"DATABASE_URL": empty_database_url}
        )
        assert migrated.returncode == 0, migrated.stderr
        for _ in range(READY_WITHIN_S * 4):
            try:
                status, report = await _readiness(api)
            except aiohttp.ClientConnectorError:
                # The handover from the waiting app closes the port for a moment
                # (ledger/cli/serve.py): a balancer's next probe finds the service.
                status, report = 0, {}
            if status == 200:
                break
            await asyncio.sleep(0.25)
        assert status == 200, report
        assert report["checks"]["database_role"] == "service role"

        bad_header = b"GET /api/v1/orders/abcdefgh HTTP/1.1\r\nHost: x\r\nX-Tenant: a\x01b\r\n\r\n"
        status, headers, body = await _raw(port, bad_header)
        assert status == 400 and headers["Content-Type"].startswith("application/problem+json")
        problem = json.loads(body)
        assert problem["field"] == "X-Tenant" and problem["code"] == "malformed_request"
        assert headers["X-Request-Id"] == problem["request_id"]
        assert "a\\u0001b" not in body.decode() and "a\x01b" not in body.decode()
        bad_length = b"POST /api/v1/orders HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n"
        status, _, body = await _raw(port, bad_length)
        assert status == 400 and json.loads(body)["field"] == "Content-Length"
    finally:
        returncode, stderr = await _stopped(server)
    assert returncode == 0, stderr
    assert "Traceback" not in stderr, "aiohttp's plain-text traceback for a refused request"
    # Every line on stderr is JSON (stderr is a pipe here): start, waiting, refusals, stop.
    logged = [json.loads(line) for line in stderr.splitlines() if line.strip()]
    refused = [line["field"] for line in logged if line["event"] == "malformed request refused"]
    assert refused == ["X-Tenant", "Content-Length"], stderr
    assert any(line["event"] == "serving" for line in logged)


async def test_serve_started_before_its_database_answers_is_alive_unready_and_stops_promptly(
    tmp_path,
):
    port = free_port()
    nowhere = f"postgresql://postgres@127.0.0.1:{free_port()}/postgres"
    env = env_for(nowhere, tmp_path, PORT=str(port), SANDBOX_PORT=str(free_port()))
    server = start_cli("serve", env=env, stderr=subprocess.PIPE)
    api = f"http://127.0.0.1:{port}"
    try:
        await wait_for(api + "/healthz")
        for _ in range(40):
            status, report = await _readiness(api)
            if report["checks"]["database"] != "connecting":
                break
            await asyncio.sleep(0.25)
        assert status == 503 and report["checks"]["database"].startswith("unreachable"), report
    finally:
        started = asyncio.get_running_loop().time()
        returncode, stderr = await _stopped(server)
    assert returncode == 0, stderr
    assert asyncio.get_running_loop().time() - started < 5, "SIGTERM waited out a retry"
