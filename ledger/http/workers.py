"""Background workers of one service process, supervised: a worker that crashes is restarted
with backoff, counted in /metrics, and reported by /readyz while it is down.

Workers already survive a lost database by reconnecting (ledger.db.DATABASE_ERRORS); this is
the net under everything else (a bug, an event type a newer node wrote during a rolling
deploy), which used to end the task silently until the process restarted.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

import structlog
from aiohttp import web

from ledger.metrics import METRICS

log = structlog.get_logger(__name__)

Worker = Callable[[web.Application, asyncio.Event], Coroutine[Any, Any, None]]
# Per worker name: True while it runs, False while it waits to be restarted.
WORKERS_UP = web.AppKey("workers_up", dict[str, bool])

# The first restart comes after a second, doubling up to half a minute: a transient fault
# costs seconds, a persistent one does not spin the process or flood the log.
RESTART_BASE_S = 1.0
RESTART_CAP_S = 30.0
# How long shutdown waits for each worker to finish its current step.
STOP_GRACE_S = 10.0


async def supervise(name: str, worker: Worker, app: web.Application, stop: asyncio.Event) -> None:
    """Run `worker` until stop is set, restarting it whenever it raises."""
    failures = 0
    up = app[WORKERS_UP]
    while not stop.is_set():
        up[name] = True
        try:
            await worker(app, stop)
            return
        except Exception:
            failures += 1
            up[name] = False
            METRICS.worker_restarts.labels(name).inc()
            delay = min(RESTART_CAP_S, RESTART_BASE_S * 2 ** (failures - 1))
            log.exception("worker crashed, restarting", worker=name, in_s=delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)


def background_ctx(workers: dict[str, Worker]):
    """Start workers after the resources are open; stop them (and wait) before they close."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        stop = asyncio.Event()
        app[WORKERS_UP] = {}
        tasks = [
            asyncio.create_task(supervise(name, worker, app, stop), name=name)
            for name, worker in workers.items()
        ]
        yield
        stop.set()
        if not tasks:
            return
        # Every worker gets its grace, whatever an earlier one did: one missing its deadline
        # must not leave the later ones unawaited.
        _, late = await asyncio.wait(tasks, timeout=STOP_GRACE_S)
        for task in late:
            log.warning("worker did not stop in time, cancelling", task=task.get_name())
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*late, return_exceptions=True)

    return ctx
