"""The app factory: resources opened in cleanup_ctx, routes, the one middleware."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

import asyncpg
import structlog
from aiohttp import web

from ledger import seals
from ledger.config import Settings
from ledger.db import create_pool, migrate
from ledger.http import ops
from ledger.http.keys import DSN, POOL, PROJECTIONS, SETTINGS
from ledger.http.middleware import canonical_request
from projections.registry import all_projections
from projections.runner import run_projection

log = structlog.get_logger(__name__)
Worker = Callable[[web.Application, asyncio.Event], Coroutine[Any, Any, None]]


async def _pool_ctx(app: web.Application) -> AsyncIterator[None]:
    app[POOL] = await create_pool(app[DSN])
    async with app[POOL].acquire() as conn:
        await migrate(conn)
    yield
    await app[POOL].close()


def _projection_worker(name: str) -> Worker:
    async def work(app: web.Application, stop: asyncio.Event) -> None:
        projection = app[PROJECTIONS][name]
        await run_projection(app[DSN], projection, stop, app[SETTINGS].poll_interval_s)

    return work


async def _seal_worker(app: web.Application, stop: asyncio.Event) -> None:
    """Seal new events periodically; sealing is idempotent and serialised across nodes."""
    while not stop.is_set():
        try:
            async with app[POOL].acquire() as conn:
                await seals.seal(conn)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("sealing failed, will retry", error=str(exc))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), app[SETTINGS].seal_interval_s)


def background_ctx(workers: list[Worker]):
    """Start workers after the pool is open; stop them (and wait) before it closes."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        stop = asyncio.Event()
        tasks = [asyncio.create_task(worker(app, stop)) for worker in workers]
        yield
        stop.set()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(task, timeout=10)

    return ctx


def create_app(settings: Settings, dsn: str, *, background: bool = True) -> web.Application:
    app = web.Application(middlewares=[canonical_request], client_max_size=settings.max_body_bytes)
    app[SETTINGS] = settings
    app[DSN] = dsn
    app[PROJECTIONS] = all_projections()
    app.cleanup_ctx.append(_pool_ctx)
    if background:
        workers = [_projection_worker(name) for name in app[PROJECTIONS]]
        workers.append(_seal_worker)
        app.cleanup_ctx.append(background_ctx(workers))
    app.add_routes(ops.routes)
    return app
