"""Doubles for the REST adapter and VendorClient unit tests: canned vendor bodies, a journal,
sleeps and a clock that record, and aioresponses made to work with current aiohttp."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import aiohttp
from aioresponses import aioresponses
from yarl import URL

from ledger.vendors.base import (
    Outcome,
    VendorOrderRequest,
)
from ledger.vendors.breaker import CircuitBreaker
from ledger.vendors.client import VendorClient
from ledger.vendors.rest import RestVendorAdapter

BASE = "http://vendor.test"
ORDERS = f"{BASE}/v1/orders"
REQ = VendorOrderRequest("ref-0001-abcd", 2500, "USD", "amazon-us", "cust-1")
NOW = datetime(2026, 10, 21, 7, 27, 30, tzinfo=UTC)


def order_json(status: str = "fulfilled", **extra: object) -> dict[str, object]:
    body: dict[str, object] = {
        "id": "vo_1",
        "reference": REQ.reference,
        "status": status,
        "amount_minor": REQ.amount_minor,
        "currency": "USD",
        "created_at": "2026-10-21T07:27:30Z",
        "updated_at": "2026-10-21T07:27:30Z",
    }
    body.update(extra)
    return body


def error_json(code: str) -> dict[str, object]:
    return {"error": {"code": code, "message": f"{code} happened"}}


class Journal:
    """Records what VendorClient tells the journal, in order."""

    def __init__(self) -> None:
        self.entries: list[tuple[object, ...]] = []

    async def before_attempt(self, attempt: int) -> None:
        self.entries.append(("before", attempt))

    async def after_attempt(self, attempt: int, outcome: Outcome) -> None:
        self.entries.append(("after", attempt, type(outcome).__name__))


class Sleeps:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class _SentRequest:
    output_size = 0


class _CompatResponse(aiohttp.ClientResponse):
    # aioresponses 0.7.9 builds responses without the `stream_writer` argument aiohttp 3.14 made
    # required (pnuckowski/aioresponses#289). The request counts as sent, so only its size is read.
    def __init__(self, method: str, url: URL, **kwargs: object) -> None:
        kwargs.setdefault("stream_writer", _SentRequest())
        super().__init__(method, url, **kwargs)  # type: ignore[arg-type]


class VendorMock(aioresponses):
    def add(self, url, method="GET", **kwargs):  # type: ignore[override]
        kwargs.setdefault("response_class", _CompatResponse)
        super().add(url, method, **kwargs)


def make_client(adapter: RestVendorAdapter, breaker: CircuitBreaker | None = None, **kw: object):
    sleeps = Sleeps()
    client = VendorClient(
        adapter,
        breaker=breaker or CircuitBreaker(),
        sleep=sleeps,
        rng=random.Random(7),
        **kw,  # type: ignore[arg-type]
    )
    return client, sleeps


def sent(vendor: aioresponses) -> list[aiohttp.client.ClientRequest]:
    return vendor.requests.get(("POST", URL(ORDERS)), [])
