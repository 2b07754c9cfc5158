"""An app served over real HTTP on loopback, with its own fresh database."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient, TestServer

from ledger.config import Settings
from ledger.http.app import create_app
from tests.clusters import cluster, replicated  # noqa: F401 (fixtures of private clusters)
from tests.harness import sandbox, service, service_settings


@pytest.fixture
def settings() -> Settings:
    return Settings(poll_interval_s=0.05, sandbox_port=0, schedules=False)


@pytest.fixture
async def client(database_url: str, settings: Settings) -> AsyncIterator[TestClient]:
    app = create_app(settings, database_url)
    async with TestClient(TestServer(app, host="127.0.0.1")) as test_client:
        yield test_client


@pytest.fixture
async def running(database_url: str, tmp_path) -> AsyncIterator[tuple[TestClient, dict, str]]:
    """The service and the sandbox vendor over loopback: (client, orders:write headers, url)."""
    async with (
        sandbox() as (url, _),
        service(database_url, service_settings(url, tmp_path)) as (
            client,
            headers,
        ),
    ):
        yield client, headers, url
