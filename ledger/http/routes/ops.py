"""Operations routes: liveness, readiness, Prometheus metrics."""

from __future__ import annotations

import time

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ledger.db import DATABASE_ERRORS, pending_migrations
from ledger.http.keys import POOL, PROJECTIONS, ROLE_WARNINGS, SETTINGS, STALLS, VENDORS
from ledger.http.runtime.replica import REPLICA
from ledger.http.workers import WORKERS_UP
from ledger.metrics import METRICS
from ledger.vendors.breaker import BREAKER_STATES
from projections.checkpoints import checkpoint_positions
from projections.rebuild import rebuilding
from projections.runner import Lag, lag
from projections.stalls import StallWatch

routes = web.RouteTableDef()


@routes.get("/healthz")
async def healthz(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


@routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    checks: dict[str, object] = {}
    ready = True
    names = list(request.app[PROJECTIONS])
    try:
        async with request.app[POOL].acquire(timeout=2) as conn:
            pending = await pending_migrations(conn)
            lags = await lag(conn, list(request.app[PROJECTIONS].values()))
            positions = await checkpoint_positions(conn)
            being_rebuilt = await rebuilding(conn, names)
        checks["database"] = "ok"
        # Said, not failed: a role that can rewrite the log is a deployment to fix, not a node
        # to take out of rotation (docs/operations.md, database roles).
        checks["database_role"] = request.app.get(ROLE_WARNINGS) or "service role"
        checks["pending_migrations"] = pending
        checks["projection_lag_events"] = {name: lagged.events for name, lagged in lags.items()}
        settings = request.app[SETTINGS]
        # An API node's requests need no projection to be current (intake folds the order's
        # own stream): lag there is shown, and alerted on from /metrics, but taking every API
        # node out of rotation because the worker nodes fell behind would stop intake too.
        gated = settings.node_role != "api"
        limit = settings.ready_max_lag_events
        ready = not pending and not (gated and any(lg.events > limit for lg in lags.values()))
        if being_rebuilt:
            # Its live checkpoint stands still while the rebuild runs, by design: not a stall.
            checks["projections_rebuilding"] = being_rebuilt
        stalled = _stalled(request.app[STALLS], positions, lags, set(being_rebuilt))
        if stalled:
            checks["projections_stalled"] = stalled
            ready = ready and not gated
        down = sorted(name for name, up in request.app.get(WORKERS_UP, {}).items() if not up)
        if down:
            checks["workers_down"] = down
            ready = False
    except DATABASE_ERRORS as exc:
        checks["database"] = f"unreachable: {type(exc).__name__}"
        ready = False
    checks["node_role"] = request.app[SETTINGS].node_role
    if REPLICA in request.app:
        checks["read_replica"] = request.app[REPLICA].checks()
    return web.json_response(
        {"status": "ready" if ready else "not_ready", "checks": checks},
        status=200 if ready else 503,
    )


def _stalled(
    watch: StallWatch, positions: dict[str, int], lags: dict[str, Lag], excused: set[str]
) -> dict[str, dict[str, float]]:
    """Projections at rest with events they could apply; excused ones count as idle."""
    now = time.monotonic()
    stalls = {
        name: watch.observe(
            name,
            positions.get(name, 0),
            0 if name in excused else lagged.applicable,
            lagged.seconds,
            now,
        )
        for name, lagged in lags.items()
    }
    return {name: stall._asdict() for name, stall in sorted(stalls.items()) if stall}


# What the order gauges read at scrape time: one index range scan (orders_view's status index).
_PENDING = """SELECT count(*) AS pending,
                     coalesce(extract(epoch FROM now() - min(created_at)), 0) AS oldest_s
              FROM orders_view WHERE status = 'pending'"""

# The webhook queue as the deliverer works it: endpoints disabled or deleted wait for their
# owner, not for us, and would hold the age alarm up for ever.
_WEBHOOK_QUEUE = """SELECT count(*) AS depth,
                           coalesce(extract(epoch FROM now() - min(d.occurred_at)), 0) AS oldest_s
                    FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id
                    WHERE d.status = 'pending' AND NOT e.disabled AND NOT e.deleted"""


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    """Prometheus' text format from prometheus_client; the gauges are set from the database
    and the breakers as this scrape reads them."""
    async with request.app[POOL].acquire() as conn:
        lags = await lag(conn, list(request.app[PROJECTIONS].values()))
        orders = await conn.fetchrow(_PENDING)
        webhooks = await conn.fetchrow(_WEBHOOK_QUEUE)
    for name, lagged in lags.items():
        METRICS.projection_lag_events.labels(name).set(lagged.events)
        METRICS.projection_lag_seconds.labels(name).set(lagged.seconds)
    for name, client in request.app[VENDORS].items():
        for state in BREAKER_STATES:
            METRICS.breaker_state.labels(name, state).set(float(client.breaker.state == state))
    METRICS.pending_orders.set(orders["pending"])
    METRICS.oldest_pending_seconds.set(float(orders["oldest_s"]))
    METRICS.webhook_queue_depth.set(webhooks["depth"])
    METRICS.webhook_oldest_undelivered_seconds.set(float(webhooks["oldest_s"]))
    return web.Response(
        body=generate_latest(METRICS.registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
    )
