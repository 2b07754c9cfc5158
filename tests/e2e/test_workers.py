"""Background workers are supervised: one that crashes is restarted with backoff, counted in
/metrics and named by /readyz while it is down."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import web

from ledger.http import workers as workers_module
from ledger.http.workers import WORKERS_UP, supervise
from ledger.metrics import METRICS


@pytest.fixture
def quick_restarts(monkeypatch):
    monkeypatch.setattr(workers_module, "RESTART_BASE_S", 0.01)


async def test_a_crashing_worker_is_restarted_and_counted(quick_restarts):
    app = web.Application()
    app[WORKERS_UP] = {}
    stop = asyncio.Event()
    runs = 0

    async def flaky(_app: web.Application, stop: asyncio.Event) -> None:
        nonlocal runs
        runs += 1
        if runs <= 2:
            raise KeyError("an event type a newer node wrote")
        await stop.wait()

    before = METRICS.value("ledger_worker_restarts_total", worker="flaky")
    task = asyncio.create_task(supervise("flaky", flaky, app, stop))
    for _ in range(200):
        if runs == 3:
            break
        await asyncio.sleep(0.01)
    assert runs == 3 and app[WORKERS_UP]["flaky"] is True
    assert METRICS.value("ledger_worker_restarts_total", worker="flaky") - before == 2
    stop.set()
    await asyncio.wait_for(task, 1)


async def test_readyz_names_a_worker_that_is_down(client):
    client.app[WORKERS_UP]["completer"] = False
    response = await client.get("/readyz")
    body = await response.json()
    assert response.status == 503 and body["checks"]["workers_down"] == ["completer"]
    client.app[WORKERS_UP]["completer"] = True


async def test_shutdown_waits_for_every_worker_even_after_one_overstays(monkeypatch):
    monkeypatch.setattr(workers_module, "STOP_GRACE_S", 0.2)
    finished: list[str] = []

    async def stubborn(_app: web.Application, _stop: asyncio.Event) -> None:
        await asyncio.sleep(3600)  # ignores stop: cancelled after its grace

    async def tidy(_app: web.Application, stop: asyncio.Event) -> None:
        await stop.wait()
        await asyncio.sleep(0.05)  # its last step, after stop, before resources close
        finished.append("tidy")

    app = web.Application()
    ctx = workers_module.background_ctx({"stubborn": stubborn, "tidy": tidy})(app)
    await anext(ctx)
    await asyncio.sleep(0.01)  # the service runs: both workers have started
    with pytest.raises(StopAsyncIteration):
        await anext(ctx)
    assert finished == ["tidy"]
