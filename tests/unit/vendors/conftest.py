"""Fixtures for the vendor unit tests: a mocked vendor and a REST adapter pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import timedelta

import aiohttp
import pytest
from aioresponses import aioresponses

from ledger.vendors.rest import RestVendorAdapter
from tests.unit.vendors.rest_doubles import BASE, NOW, VendorMock


@pytest.fixture
def vendor() -> Iterator[aioresponses]:
    with VendorMock() as mocked:
        yield mocked


@pytest.fixture
async def adapter() -> AsyncIterator[RestVendorAdapter]:
    async with aiohttp.ClientSession() as session:
        yield RestVendorAdapter(
            "acme", BASE, session, "k_test", 2.0, timedelta(hours=24), clock=lambda: NOW
        )
