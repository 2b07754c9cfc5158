import asyncio
import shutil

import asyncpg
import pytest

from ledger.db import MIGRATIONS_DIR, MigrationError, migrate


async def test_migrations_apply_once_and_record_checksums(empty_database_url):
    conn = await asyncpg.connect(empty_database_url)
    try:
        first = await migrate(conn)
        assert first == sorted(p.name for p in MIGRATIONS_DIR.glob("*.sql"))
        assert await migrate(conn) == []
        rows = await conn.fetch("SELECT name, checksum FROM schema_migrations ORDER BY version")
        assert [r["name"] for r in rows] == first
        assert all(len(r["checksum"]) == 64 for r in rows)
    finally:
        await conn.close()


async def test_two_nodes_migrating_at_once_apply_everything_exactly_once(empty_database_url):
    conns = [await asyncpg.connect(empty_database_url) for _ in range(4)]
    try:
        results = await asyncio.gather(*(migrate(c) for c in conns))
        applied = [name for result in results for name in result]
        assert sorted(applied) == sorted(p.name for p in MIGRATIONS_DIR.glob("*.sql"))
        assert await conns[0].fetchval("SELECT count(*) FROM schema_migrations") == len(applied)
    finally:
        for conn in conns:
            await conn.close()


async def test_an_edited_applied_migration_is_refused_by_name(empty_database_url, tmp_path):
    edited = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, edited)
    conn = await asyncpg.connect(empty_database_url)
    try:
        await migrate(conn, edited)
        path = edited / "0002_projections.sql"
        path.write_text(path.read_text() + "\n-- a harmless-looking edit\n")
        with pytest.raises(MigrationError, match=r"0002_projections\.sql was edited"):
            await migrate(conn, edited)
    finally:
        await conn.close()


async def test_a_failing_migration_leaves_nothing_applied(empty_database_url, tmp_path):
    broken = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, broken)
    (broken / "9999_broken.sql").write_text(
        "CREATE TABLE fine (id int); SELECT no_such_function();"
    )
    conn = await asyncpg.connect(empty_database_url)
    try:
        with pytest.raises(asyncpg.UndefinedFunctionError):
            await migrate(conn, broken)
        assert await conn.fetchval("SELECT to_regclass('events')") is None
        assert await conn.fetchval("SELECT to_regclass('fine')") is None
    finally:
        await conn.close()
