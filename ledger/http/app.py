"""The app factory: resources opened in cleanup_ctx, routes, the one middleware."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, time, timedelta

import aiohttp
import asyncpg
import structlog
from aiohttp import web

from ledger.auth import ensure_admin_key
from ledger.config import Settings
from ledger.console import add_console
from ledger.db import DATABASE_ERRORS, create_pool, prepare_database, role_warnings
from ledger.gl.close import run_close_schedule
from ledger.http import openapi
from ledger.http.auth import KEY_CACHE, KeyCache
from ledger.http.keys import (
    DSN,
    INTAKE,
    MIGRATE_DSN,
    POOL,
    PROJECTIONS,
    REFUSALS,
    ROLE_WARNINGS,
    ROUTER,
    SETTINGS,
    STALLS,
    VAULT,
    VENDORS,
    WEBHOOKS,
)
from ledger.http.middleware import canonical_request
from ledger.http.routes import api_keys as api_key_routes
from ledger.http.routes import bulk as bulk_routes
from ledger.http.routes import (
    discrepancies,
    ops,
    orders,
    reconciliations,
    webhook_endpoints,
    webhook_events,
)
from ledger.http.routes import webhooks as webhook_routes
from ledger.http.runtime.replica import replica_ctx, watch_replica
from ledger.http.workers import Worker, background_ctx
from ledger.log.digests import current_digest
from ledger.log.leases import OrderLeases
from ledger.log.notifier import AppendNotifier
from ledger.log.publish import DigestPublisher, PublishFailed
from ledger.orders.completer import Completer
from ledger.orders.fulfilment import Fulfilment
from ledger.orders.intake import Intake
from ledger.orders.schedule import RetryPolicy
from ledger.orders.vault import CardVault, load_or_create_key
from ledger.vendors.registry import (
    SANDBOX,
    build_clients,
    sandbox_webhook_secret,
    vendor_setup,
    webhook_configs,
)
from ledger.vendors.routing import Router
from ledger.vendors.sandbox.faults import parse_faults
from ledger.vendors.sandbox.server import SandboxConfig, create_sandbox_app
from ledger.webhooks import inbox
from ledger.webhooks.announcer import Announcer
from ledger.webhooks.confirmer import Confirmer
from ledger.webhooks.deliveries import Deliverer, DeliveryPolicy
from ledger.webhooks.refusals import RefusalBudget
from projections.checkpoints import ensure_projection
from projections.discrepancies import http as finance
from projections.gl import GLProjection
from projections.gl import http as gl_routes
from projections.registry import all_projections, read_model_tables
from projections.runner import run_projection
from projections.stalls import StallWatch

log = structlog.get_logger(__name__)
COMPLETER = web.AppKey("completer", Completer)
CONFIRMER = web.AppKey("confirmer", Confirmer)


def utcnow() -> datetime:
    return datetime.now(UTC)


async def _pool_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    migrator = await asyncpg.connect(app[MIGRATE_DSN])
    try:
        await prepare_database(migrator, settings.service_role, read_model_tables())
    finally:
        await migrator.close()
    app[POOL] = await create_pool(app[DSN])
    async with app[POOL].acquire() as conn:
        # Read-model tables exist before the first request; the runners fill them.
        for projection in app[PROJECTIONS].values():
            await ensure_projection(conn, projection)
        admin_key = await ensure_admin_key(conn, settings.data_dir)
        app[ROLE_WARNINGS] = await role_warnings(conn)
    if admin_key is not None:
        log.warning("created a local admin API key", path=str(admin_key))
    for warning in app[ROLE_WARNINGS]:
        log.warning("the service's database role can rewrite history", role_is=warning)
    yield
    await app[POOL].close()


async def _sandbox_ctx(app: web.Application) -> AsyncIterator[None]:
    """The in-process sandbox vendor (SANDBOX_PORT, unless SANDBOX_URL points elsewhere)."""
    settings = app[SETTINGS]
    runner = None
    if settings.sandbox_port and not settings.sandbox_url:
        config = SandboxConfig(
            faults=parse_faults(settings.sandbox_faults),
            webhook_url=f"http://127.0.0.1:{settings.port}/webhooks/{SANDBOX}",
            webhook_secret=sandbox_webhook_secret(settings),
        )
        runner = web.AppRunner(create_sandbox_app(config), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", settings.sandbox_port).start()
        log.info("sandbox vendor listening", port=settings.sandbox_port)
    yield
    if runner is not None:
        await runner.cleanup()


async def _orders_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    app[VAULT] = CardVault(load_or_create_key(settings.secrets_key, settings.data_dir))
    leases = OrderLeases(app[DSN])
    configs, routing = vendor_setup(settings)
    app[WEBHOOKS] = webhook_configs(configs)
    async with aiohttp.ClientSession() as session:
        app[VENDORS] = clients = build_clients(configs, session, random.Random())
        catalogs = {name: config.brands for name, config in configs.items()}
        app[ROUTER] = Router(
            routing,
            settings.default_vendor,
            catalogs,
            lambda vendor: clients[vendor].breaker.state == "closed",
        )
        policy = RetryPolicy(
            settings.completer_backoff_s, not_found_settle_s=settings.vendor_not_found_settle_s
        )
        fulfilment = Fulfilment(app[POOL], app[VENDORS], app[VAULT], utcnow, policy)
        app[INTAKE] = Intake(fulfilment, leases, utcnow, settings.sync_budget_s)
        app[CONFIRMER] = Confirmer(fulfilment, leases)
        app[COMPLETER] = Completer(app[POOL], fulfilment, leases)
        yield
        await app[INTAKE].close()
    await leases.close()


def _projection_worker(name: str) -> Worker:
    async def work(app: web.Application, stop: asyncio.Event) -> None:
        projection = app[PROJECTIONS][name]
        await run_projection(app[DSN], projection, stop, app[SETTINGS].poll_interval_s)

    return work


async def _seal_worker(app: web.Application, stop: asyncio.Event) -> None:
    """Seal new events periodically (idempotent, serialised across nodes) and publish each new
    digest where DIGEST_PUBLISH says; what fails is retried on the next round."""
    target = app[SETTINGS].digest_publish
    async with aiohttp.ClientSession() as session:
        publisher = DigestPublisher(target, session) if target else None
        while not stop.is_set():
            try:
                async with app[POOL].acquire() as conn:
                    digest = await current_digest(conn)
                if publisher is not None and digest is not None:
                    await publisher.publish(digest)
            except DATABASE_ERRORS as exc:
                log.warning("sealing failed, will retry", error=str(exc))
            except PublishFailed as exc:
                log.warning("publishing the digest failed, will retry", error=str(exc))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), app[SETTINGS].seal_interval_s)


async def _notifier_worker(app: web.Application, stop: asyncio.Event) -> None:
    await AppendNotifier(app[DSN]).run(stop)


async def _completer_worker(app: web.Application, stop: asyncio.Event) -> None:
    await app[COMPLETER].run(stop, app[SETTINGS].poll_interval_s)


async def _gl_close_worker(app: web.Application, stop: asyncio.Event) -> None:
    projection = app[PROJECTIONS]["gl"]
    assert isinstance(projection, GLProjection)
    at = time.fromisoformat(app[SETTINGS].gl_close_at)
    await run_close_schedule(app[DSN], projection, at, stop, utcnow)


async def _confirmer_worker(app: web.Application, stop: asyncio.Event) -> None:
    await app[CONFIRMER].run(app[DSN], stop, app[SETTINGS].poll_interval_s)


async def _announcer_worker(app: web.Application, stop: asyncio.Event) -> None:
    await Announcer(utcnow).run(app[DSN], stop, app[SETTINGS].poll_interval_s)


async def _inbox_prune_worker(app: web.Application, stop: asyncio.Event) -> None:
    days = app[SETTINGS].vendor_webhook_inbox_days
    await inbox.prune_past_retention(app[POOL], days, stop, utcnow)


async def _deliveries_worker(app: web.Application, stop: asyncio.Event) -> None:
    settings = app[SETTINGS]
    policy = DeliveryPolicy(
        allow_private=settings.webhook_allow_private,
        timeout_s=settings.webhook_timeout_s,
        retry_base_s=settings.webhook_retry_base_s,
        retry_window_s=settings.webhook_retry_window_s,
        disable_after_s=settings.webhook_disable_after_s,
    )
    deliverer = Deliverer(app[VAULT], policy, utcnow, random.Random().random)
    await deliverer.run(app[DSN], stop, settings.poll_interval_s)


def _background_workers(settings: Settings, projections: list[str]) -> dict[str, Worker]:
    """What this node runs besides requests. Every node that appends wakes the followers
    (wherever they run) with its notifier; the rest is the worker role's."""
    workers: dict[str, Worker] = {"notifier": _notifier_worker}
    if settings.read_database_url and settings.node_role != "workers":
        workers["read_replica_watch"] = watch_replica
    if settings.node_role == "api":
        return workers
    workers |= {f"projection:{name}": _projection_worker(name) for name in projections}
    workers |= {
        "sealer": _seal_worker,
        "completer": _completer_worker,
        "confirmer": _confirmer_worker,
        "webhook_announcer": _announcer_worker,
        "webhook_deliveries": _deliveries_worker,
        "vendor_webhook_inbox_pruner": _inbox_prune_worker,
    }
    if settings.schedules:
        workers["reconciliation_schedule"] = reconciliations.schedule_worker(
            time.fromisoformat(settings.reconcile_at),
            timedelta(seconds=settings.reconcile_overlap_s),
        )
        workers["gl_close_schedule"] = _gl_close_worker
    return workers


# The request routes; a worker node serves none of them, only the operations routes, so a
# load balancer that finds it by mistake gets 404s rather than a node that competes for work.
_REQUEST_ROUTES = (
    api_key_routes,
    orders,
    bulk_routes,
    openapi,
    webhook_routes,
    webhook_endpoints,
    webhook_events,
    discrepancies,
    finance,
    gl_routes,
    reconciliations,
)


def create_app(
    settings: Settings, dsn: str, *, migrate_dsn: str | None = None, background: bool = True
) -> web.Application:
    """The service on dsn (the service role's login); migrations run on migrate_dsn (default
    MIGRATE_DATABASE_URL, else dsn) when its role may, else the start waits for them. What it
    serves and runs follows settings.node_role; without `background`, no worker at all."""
    app = web.Application(middlewares=[canonical_request], client_max_size=settings.max_body_bytes)
    app[SETTINGS] = settings
    app[DSN] = dsn
    app[MIGRATE_DSN] = migrate_dsn or settings.migrate_database_url or dsn
    app[PROJECTIONS] = all_projections(settings)
    app[STALLS] = StallWatch(settings.ready_stall_s)
    app[KEY_CACHE] = KeyCache()
    app[REFUSALS] = RefusalBudget(settings.vendor_webhook_refusals_kept_per_minute)
    app.cleanup_ctx.extend([_pool_ctx, replica_ctx, _sandbox_ctx, _orders_ctx])
    if background:
        app.cleanup_ctx.append(background_ctx(_background_workers(settings, [*app[PROJECTIONS]])))
    app.add_routes(ops.routes)
    if settings.node_role != "workers":
        for module in _REQUEST_ROUTES:
            app.add_routes(module.routes)
        add_console(app)
        app.on_shutdown.append(reconciliations.cancel_runs)
    return app
