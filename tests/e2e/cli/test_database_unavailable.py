"""A command whose database is away, goes away mid-command, or aborts its transaction on a
conflict says so on one line and exits 75 (try again), as a request gets a 503: an expected
state, not a crash. Before, each printed a Python traceback and exited 1.
"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Awaitable, Callable

import asyncpg
import pytest

from ledger.auth import create_key
from tests.cli import run_cli, start_cli
from tests.clusters import free_port
from tests.e2e.orders.test_crash_recovery import env_for

EXIT_TRY_AGAIN = 75
GOOD_FILE = "customer_id,brand_id,amount,currency\ncust-1,amazon-us,25.00,USD\n"
WINDOW = ("--from", "2026-11-30T00:00:00Z", "--to", "2026-12-01T00:00:00Z")
# Every command that opens the database, as an operator types it.
DATABASE_COMMANDS = {
    "migrate": ("migrate",),
    "rebuild": ("rebuild",),
    "verify": ("verify",),
    "seal": ("seal",),
    "digest": ("digest",),
    "gl close": ("gl", "close", "2026-11-30"),
    "apikey list": ("apikey", "list"),
    "bulk-upload": ("bulk-upload", "{file}", "--client", "shop"),
    "reconcile": ("reconcile", "--vendor", "sandbox", *WINDOW),
}


def _said_try_again(done: subprocess.CompletedProcess, cause: str) -> str:
    """The one line the command printed; it exited 75 and showed no traceback."""
    assert done.returncode == EXIT_TRY_AGAIN, (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr, done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("error: ") and cause in line, line
    return line


@pytest.mark.parametrize("command", DATABASE_COMMANDS)
def test_a_command_whose_database_is_unreachable_says_so_and_exits_75(command, tmp_path):
    # Nothing listens on a port just freed: the connection is refused, as on a server down.
    unreachable = f"postgresql://postgres@127.0.0.1:{free_port()}/postgres"
    (tmp_path / "orders.csv").write_text(GOOD_FILE)
    argv = [arg.format(file=tmp_path / "orders.csv") for arg in DATABASE_COMMANDS[command]]
    done = run_cli(*argv, env=env_for(unreachable, tmp_path))
    line = _said_try_again(done, "the database is unavailable")
    assert "Connect call failed" in line, "the cause is named"
    assert "run the command again" in line


async def _blocked_by(session: asyncpg.Connection) -> int:
    """The backend of a session waiting for a lock that `session` holds (the command's)."""
    query = """SELECT pid FROM pg_locks
               WHERE NOT granted AND pg_backend_pid() = ANY(pg_blocking_pids(pid)) LIMIT 1"""
    deadline = asyncio.get_running_loop().time() + 30
    while (pid := await session.fetchval(query)) is None:
        assert asyncio.get_running_loop().time() < deadline, "the command waited on no lock"
        await asyncio.sleep(0.02)
    return pid


async def _run_while_holding(
    database_url: str,
    tmp_path,
    lock: str,
    argv: tuple[str, ...],
    when_blocked: Callable[[asyncpg.Connection, int], Awaitable[object]],
) -> subprocess.CompletedProcess:
    """Run `argv` while a session holds `lock` (SQL run in an open transaction); once the
    command's backend waits for it, `when_blocked(session, that backend's pid)`."""
    session = await asyncpg.connect(database_url)
    command = None
    try:
        tx = session.transaction()
        await tx.start()
        await session.execute(lock)
        command = start_cli(*argv, env=env_for(database_url, tmp_path), stderr=subprocess.PIPE)
        await when_blocked(session, await _blocked_by(session))
        _, stderr = await asyncio.to_thread(command.communicate, timeout=60)
        await tx.rollback()
    finally:
        if command is not None and command.poll() is None:
            command.kill()
        await session.close()
    return subprocess.CompletedProcess(command.args, command.returncode, "", stderr)


async def test_a_command_whose_connection_is_cut_mid_command_says_so_and_exits_75(
    database_url, pool, tmp_path
):
    async with pool.acquire() as conn:
        await create_key(conn, name="shop", scopes=["orders:write"])

    async def cut(session: asyncpg.Connection, pid: int) -> None:
        assert await session.fetchval("SELECT pg_terminate_backend($1)", pid)

    done = await _run_while_holding(
        database_url,
        tmp_path,
        "LOCK TABLE api_keys IN ACCESS EXCLUSIVE MODE",
        ("apikey", "list"),
        cut,
    )
    _said_try_again(done, "the database is unavailable")
    again = await asyncio.to_thread(run_cli, "apikey", "list", env=env_for(database_url, tmp_path))
    assert again.returncode == 0 and "shop" in again.stdout, again.stderr


async def test_a_command_chosen_as_a_deadlock_victim_says_so_and_exits_75(
    database_url, pool, tmp_path
):
    async with pool.acquire() as conn:
        principal, _ = await create_key(conn, name="shop", scopes=["orders:write"])

    # The revoke holds its table's row-exclusive lock and waits for the key's row, which the
    # session holds; the session then wants the whole table: each waits for the other, and
    # PostgreSQL aborts the revoke, which began waiting first (so its check runs first).
    async def deadlock(session: asyncpg.Connection, _pid: int) -> None:
        await session.execute("LOCK TABLE api_keys IN ACCESS EXCLUSIVE MODE")

    done = await _run_while_holding(
        database_url,
        tmp_path,
        f"SELECT 1 FROM api_keys WHERE key_id = '{principal.key_id}' FOR UPDATE",
        ("apikey", "revoke", principal.key_id),
        deadlock,
    )
    line = _said_try_again(done, "aborted the command's transaction on a conflict")
    assert "deadlock detected" in line
    async with pool.acquire() as conn:
        assert await conn.fetchval(
            "SELECT revoked_at IS NULL FROM api_keys WHERE key_id = $1", principal.key_id
        ), "the aborted revoke wrote nothing"
    again = await asyncio.to_thread(
        run_cli, "apikey", "revoke", principal.key_id, env=env_for(database_url, tmp_path)
    )
    assert again.returncode == 0, again.stderr
