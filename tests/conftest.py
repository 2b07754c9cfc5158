"""Shared fixtures: one migrated template database per run, a fresh copy per test.

TEST_DATABASE_URL (or DATABASE_URL) names a server whose user may CREATE DATABASE; without
either, an embedded PostgreSQL is started in .data/test-pg, as a new user's machine would.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from ledger.db import embedded_database_url, migrate
from ledger.log.leases import OrderLeases

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = f"ledger_tpl_{os.getpid()}"


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


@pytest.fixture(scope="session")
def server_url() -> str:
    url = os.environ.get("TEST_DATABASE_URL") or os.environ.get("DATABASE_URL")
    if url:
        return url
    return embedded_database_url(ROOT / ".data" / "test-pg")


@pytest.fixture(scope="session")
def template_url(server_url: str) -> str:
    """A database with every migration applied, copied for each test (CREATE ... TEMPLATE)."""

    async def build() -> None:
        admin = await asyncpg.connect(server_url)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{TEMPLATE}"')
            await admin.execute(f'CREATE DATABASE "{TEMPLATE}"')
        finally:
            await admin.close()
        conn = await asyncpg.connect(_with_database(server_url, TEMPLATE))
        try:
            await migrate(conn)
        finally:
            await conn.close()

    asyncio.run(build())
    yield _with_database(server_url, TEMPLATE)

    async def drop() -> None:
        admin = await asyncpg.connect(server_url)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{TEMPLATE}" WITH (FORCE)')
        finally:
            await admin.close()

    asyncio.run(drop())


async def _fresh_database(server_url: str, template: str | None) -> str:
    name = f"ledger_t_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(server_url)
    try:
        clause = f' TEMPLATE "{template}"' if template else ""
        await admin.execute(f'CREATE DATABASE "{name}"{clause}')
    finally:
        await admin.close()
    return name


async def _drop_database(server_url: str, name: str) -> None:
    admin = await asyncpg.connect(server_url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture
async def database_url(server_url: str, template_url: str) -> AsyncIterator[str]:
    """A freshly migrated database of its own for one test."""
    name = await _fresh_database(server_url, TEMPLATE)
    yield _with_database(server_url, name)
    await _drop_database(server_url, name)


@pytest.fixture
async def empty_database_url(server_url: str) -> AsyncIterator[str]:
    """A database with no migrations applied (for migration tests)."""
    name = await _fresh_database(server_url, None)
    yield _with_database(server_url, name)
    await _drop_database(server_url, name)


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=24)
    yield pool
    await pool.close()


@pytest.fixture
async def leases(database_url: str) -> AsyncIterator[OrderLeases]:
    """This process's order leases on the test's database."""
    leases = OrderLeases(database_url)
    yield leases
    await leases.close()
