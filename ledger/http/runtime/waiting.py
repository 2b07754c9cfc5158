"""What `serve` answers before its database is usable: alive, not ready, and why.

A node whose database is down, or whose migrations wait for `run.py migrate`, still listens, so
its process manager sees it alive and its load balancer sees it unready (with the reason in
`/readyz`), instead of a port that refuses connections or a process that exits and restarts.
"""

from __future__ import annotations

from aiohttp import web

from ledger.http.problems import Problem

# The checks /readyz reports; serve updates them in place on each attempt.
WAITING_CHECKS = web.AppKey("waiting_checks", dict)
RETRY_AFTER_S = web.AppKey("retry_after_s", float)


async def _healthz(_request: web.Request) -> web.Response:
    # Alive (a liveness probe must not restart a node for waiting), but not yet the service.
    return web.json_response({"status": "starting"})


async def _readyz(request: web.Request) -> web.Response:
    checks = request.app[WAITING_CHECKS]
    return web.json_response({"status": "not_ready", "checks": checks}, status=503)


async def _not_yet(request: web.Request) -> web.Response:
    retry_after = round(request.app[RETRY_AFTER_S])
    return Problem(
        503,
        "not_ready",
        "the service is starting: its database is not usable yet (see /readyz); retry",
        headers={"Retry-After": str(retry_after)},
    ).response()


def create_waiting_app(checks: dict[str, object], retry_after_s: float) -> web.Application:
    """/healthz 200 "starting", /readyz 503 with `checks`, everything else a 503 problem."""
    app = web.Application()
    app[WAITING_CHECKS] = checks
    app[RETRY_AFTER_S] = retry_after_s
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/readyz", _readyz)
    app.router.add_route("*", "/{anything:.*}", _not_yet)
    return app
