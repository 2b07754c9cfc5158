"""Fixtures of the security tests."""

import pytest

from ledger.auth import create_key
from ledger.http.keys import POOL


@pytest.fixture
async def admin(running) -> dict[str, str]:
    client, _, _ = running
    async with client.app[POOL].acquire() as conn:
        _, key = await create_key(conn, name="ops", scopes=["admin"])
    return {"Authorization": f"Bearer {key}"}
