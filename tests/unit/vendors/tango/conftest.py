"""The Tango adapter under test, pointed at the mocked vendor (tests/unit/vendors/conftest)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import aiohttp
import pytest

from ledger.vendors.tango.adapter import TangoAdapter
from tests.unit.vendors.rest_doubles import NOW
from tests.unit.vendors.tango.answers import ACCOUNT, BASE


@pytest.fixture
async def adapter() -> AsyncIterator[TangoAdapter]:
    async with aiohttp.ClientSession() as session:
        yield TangoAdapter(
            "tango",
            BASE,
            session,
            ACCOUNT,
            {"amazon-us": "U157189"},
            2.0,
            timedelta(days=90),
            list_cap=3,
            clock=lambda: NOW,
        )
