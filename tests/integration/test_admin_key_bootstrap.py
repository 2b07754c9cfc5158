"""The local admin key on first start: exactly one, even with nodes racing, file mode 0600."""

import asyncio
import os
import stat

from ledger.auth import SCOPES, authenticate, create_key, ensure_admin_key, revoke_key


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


async def test_the_first_start_creates_one_admin_key_readable_only_by_its_owner(pool, tmp_path):
    old_umask = os.umask(0)  # even a permissive umask must not widen the file
    try:
        async with pool.acquire() as conn:
            path = await ensure_admin_key(conn, tmp_path / "data")
            admin = await authenticate(conn, "Bearer " + path.read_text().strip())
    finally:
        os.umask(old_umask)
    assert path == tmp_path / "data" / "admin-api-key"
    assert _mode(path) == 0o600
    assert (admin.name, admin.scopes) == ("local-admin", frozenset(SCOPES))
    assert os.listdir(path.parent) == ["admin-api-key"]


async def test_a_later_start_creates_nothing_and_leaves_the_file_alone(pool, tmp_path):
    async with pool.acquire() as conn:
        path = await ensure_admin_key(conn, tmp_path)
        first = path.read_text()
        assert await ensure_admin_key(conn, tmp_path) is None
        assert await conn.fetchval("SELECT count(*) FROM api_keys") == 1
    assert path.read_text() == first


async def test_no_admin_key_is_made_when_any_key_exists_even_a_revoked_one(pool, tmp_path):
    async with pool.acquire() as conn:
        created, _ = await create_key(conn, name="shop", scopes=["orders:write"])
        await revoke_key(conn, created.key_id)
        assert await ensure_admin_key(conn, tmp_path) is None
    assert not (tmp_path / "admin-api-key").exists()


async def test_a_stale_key_file_from_an_earlier_database_is_replaced(pool, tmp_path):
    stale = tmp_path / "admin-api-key"
    stale.write_text("gcl_stale\n")
    async with pool.acquire() as conn:
        path = await ensure_admin_key(conn, tmp_path)
        assert (
            await authenticate(conn, "Bearer " + path.read_text().strip())
        ).name == "local-admin"
    assert _mode(path) == 0o600


async def test_nodes_starting_at_once_create_exactly_one_admin_key(pool, tmp_path):
    for _ in range(5):
        conns = [await pool.acquire() for _ in range(4)]
        try:
            paths = await asyncio.gather(*(ensure_admin_key(c, tmp_path) for c in conns))
            count = await conns[0].fetchval("SELECT count(*) FROM api_keys")
            key = (tmp_path / "admin-api-key").read_text().strip()
            assert (await authenticate(conns[0], f"Bearer {key}")).name == "local-admin"
            await conns[0].execute("DELETE FROM api_keys")
        finally:
            for conn in conns:
                await pool.release(conn)
        assert sum(path is not None for path in paths) == 1
        assert count == 1
