"""The sandbox vendor: a real HTTP gift card API with an in-memory store.

It behaves like the vendors we integrate with, including their sharp edges: idempotency keys are
forgotten after `key_retention`, so a late resubmission creates a second order, and injected
faults (see `faults`) can commit an order and then never answer. With a webhook URL and
secret, its own state changes go out as signed webhooks (`webhooks`). The state lives in
`store`. Routes and formats: docs/sandbox.md.
"""

from __future__ import annotations

import asyncio
import hmac
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Literal, NamedTuple

import msgspec
import structlog
from aiohttp import web

from ledger.vendors.giftbit import double as giftbit
from ledger.vendors.reloadly import double as reloadly
from ledger.vendors.rest import WireCreateOrder
from ledger.vendors.runa import double as runa
from ledger.vendors.sandbox.admin import error_answer, json_answer, register_admin
from ledger.vendors.sandbox.faults import (
    FaultInjector,
    Handler,
    Middleware,
    SandboxFaults,
    fault_middleware,
    mark_created,
)
from ledger.vendors.sandbox.store import Conflict, NotFound, SandboxStore, Window
from ledger.vendors.sandbox.webhooks import Announcer, StandardAnnouncer, WebhookSender
from ledger.vendors.tango import double as tango
from ledger.vendors.tremendous import double as tremendous

log = structlog.get_logger(__name__)

# Most vendors (and Stripe, whose semantics they copy) keep idempotency keys for a day.
DEFAULT_KEY_RETENTION = timedelta(hours=24)
# Page sizes for /v1/transactions: a default that keeps replies small, a ceiling that stops one
# request from serialising the whole store.
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 500
# Idempotency keys longer than this are refused, as the IETF draft and real vendors bound them.
MAX_KEY_LENGTH = 255
# Shape only, like a vendor that does not list every currency: the ledger's money module owns
# the real ISO 4217 table, and the sandbox must not hide a bug there by agreeing with it.
CURRENCY_SHAPE = re.compile(r"[A-Z]{3}")
# Brand ids with this prefix do not exist, so tests can provoke a vendor validation error.
UNKNOWN_BRAND_PREFIX = "invalid"
# Handlers hung by the timeout_after_commit fault answer nobody; shutdown should not wait the
# full hang for them, only long enough for ordinary in-flight requests to finish.
SHUTDOWN_TIMEOUT_S = 2.0


class SandboxConfig(msgspec.Struct, frozen=True):
    faults: SandboxFaults = msgspec.field(default_factory=SandboxFaults)
    # Whose API it speaks: its own (docs/sandbox.md) or a real vendor's, as that vendor's
    # double (ledger/vendors/<vendor>/double.py), on the same store, faults and /_admin.
    dialect: Literal["sandbox", "tango", "tremendous", "giftbit", "reloadly", "runa"] = "sandbox"
    # The most results one listing query answers, for dialects whose vendor caps them (Tango).
    list_cap: int = tango.LIST_CAP
    key_retention: timedelta = DEFAULT_KEY_RETENTION
    fulfil_delay_ms: int = 0
    api_key: str | None = None
    # Signed webhooks (Standard Webhooks, a `whsec_` secret) go out only when both are set.
    webhook_url: str | None = None
    webhook_secret: str | None = None


_encoder = msgspec.json.Encoder()
SANDBOX_STORE = web.AppKey("sandbox_store", SandboxStore)


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _validate(order: WireCreateOrder) -> web.Response | None:
    if order.amount_minor <= 0:
        return error_answer(422, "invalid_amount", "amount_minor must be a positive integer")
    if not CURRENCY_SHAPE.fullmatch(order.currency):
        return error_answer(422, "invalid_currency", "currency must be an ISO 4217 code like USD")
    if order.brand_id.startswith(UNKNOWN_BRAND_PREFIX):
        return error_answer(422, "brand_not_found", f"no brand {order.brand_id!r}")
    return None


def _auth_middleware(dialect: Dialect, api_key: str) -> Middleware:
    expected = dialect.authorization(api_key).encode()

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        # Admin routes stay open: they are the test harness, not part of the vendor's API.
        if request.path.startswith(dialect.prefix):
            given = request.headers.get(dialect.auth_header, "").encode()
            if not hmac.compare_digest(given, expected):
                return dialect.unauthorized()
        return await handler(request)

    return middleware


class _Api:
    def __init__(self, store: SandboxStore) -> None:
        self.store = store

    async def create_order(self, request: web.Request) -> web.Response:
        key = request.headers.get("Idempotency-Key", "")
        if not key or len(key) > MAX_KEY_LENGTH:
            return error_answer(400, "idempotency_key_required", "send an Idempotency-Key header")
        try:
            body = msgspec.json.decode(await request.read(), type=WireCreateOrder)
        except msgspec.DecodeError as exc:
            return error_answer(400, "invalid_request", str(exc))
        if (invalid := _validate(body)) is not None:
            return invalid
        try:
            order, replayed = self.store.create(key, body)
        except Conflict:
            return error_answer(
                422, "idempotency_key_mismatch", "key already used with another body"
            )
        if replayed:
            return json_answer(200, order, {"Idempotent-Replayed": "true"})
        return mark_created(json_answer(201, order))

    async def find_orders(self, request: web.Request) -> web.Response:
        reference = request.query.get("reference")
        if not reference:
            return error_answer(400, "reference_required", "filter by ?reference=")
        return json_answer(200, self.store.by_reference(reference))

    async def get_order(self, request: web.Request) -> web.Response:
        try:
            return json_answer(200, self.store.get(request.match_info["order_id"]))
        except NotFound:
            return error_answer(404, "order_not_found", "no such order")

    async def transactions(self, request: web.Request) -> web.Response:
        query = request.query
        try:
            start = datetime.fromisoformat(query["from"])
            end = datetime.fromisoformat(query["to"])
            limit = int(query.get("limit", DEFAULT_PAGE_SIZE))
        except (KeyError, ValueError):
            return error_answer(400, "invalid_window", "need ISO 8601 from and to, integer limit")
        if start.tzinfo is None or end.tzinfo is None or not 1 <= limit <= MAX_PAGE_SIZE:
            return error_answer(
                400, "invalid_window", f"need zoned times, 1 <= limit <= {MAX_PAGE_SIZE}"
            )
        try:
            page = self.store.transactions(Window(start, end), query.get("cursor"), limit)
        except ValueError:
            return error_answer(400, "invalid_cursor", "cursor was not issued by this listing")
        return json_answer(200, page)


class Dialect(NamedTuple):
    prefix: str  # where the vendor's API lives (faults and auth apply there)
    register: Callable[[web.UrlDispatcher, SandboxStore, int], None]
    authorization: Callable[[str], str]  # the Authorization header for a configured api_key
    unauthorized: Callable[[], web.Response]
    announcer: Callable[[str], Announcer] | None  # webhooks signed with a secret; None: none
    auth_header: str = "Authorization"  # where `authorization` goes


def _register_sandbox_api(router: web.UrlDispatcher, store: SandboxStore, _list_cap: int) -> None:
    api = _Api(store)
    router.add_post("/v1/orders", api.create_order)
    router.add_get("/v1/orders", api.find_orders)
    router.add_get("/v1/orders/{order_id}", api.get_order)
    router.add_get("/v1/transactions", api.transactions)


def _dialects() -> dict[str, Dialect]:
    return {
        "sandbox": Dialect(
            "/v1/",
            _register_sandbox_api,
            lambda key: f"Bearer {key}",
            lambda: error_answer(401, "unauthorized", "missing or wrong API key"),
            StandardAnnouncer,
        ),
        "tango": Dialect(
            tango.PREFIX,
            tango.register,
            tango.authorization,
            tango.unauthorized,
            tango.TangoAnnouncer,
        ),
        "tremendous": Dialect(
            tremendous.PREFIX,
            tremendous.register,
            tremendous.authorization,
            tremendous.unauthorized,
            tremendous.TremendousAnnouncer,
        ),
        "reloadly": Dialect(
            reloadly.PREFIX,
            reloadly.register,
            reloadly.authorization,
            reloadly.unauthorized,
            reloadly.ReloadlyAnnouncer,
        ),
        "runa": Dialect(
            runa.PREFIX,
            runa.register,
            runa.authorization,
            runa.unauthorized,
            runa.RunaAnnouncer,
            runa.AUTH_HEADER,
        ),
        # Giftbit sends no webhooks.
        "giftbit": Dialect(
            giftbit.PREFIX, giftbit.register, giftbit.authorization, giftbit.unauthorized, None
        ),
    }


def create_sandbox_app(
    config: SandboxConfig, *, clock: Callable[[], datetime] = _utcnow
) -> web.Application:
    """The sandbox as an aiohttp app. `clock` is injectable so tests can outlive key retention
    and fulfilment delays without waiting for them."""
    dialect = _dialects()[config.dialect]
    webhooks = None
    if config.webhook_url and config.webhook_secret and dialect.announcer is not None:
        announcer = dialect.announcer(config.webhook_secret)
        webhooks = WebhookSender(config.webhook_url, announcer, config.faults, clock)
    elif config.webhook_url:
        log.warning("sandbox_webhooks_off", reason="no webhook_secret, or a dialect without")
    store = SandboxStore(
        clock=clock,
        key_retention=config.key_retention,
        fulfil_delay=timedelta(milliseconds=config.fulfil_delay_ms),
        webhooks=webhooks,
    )
    # Faults first: an injected 503 or 429 comes "before doing anything", auth included.
    middlewares = [fault_middleware(FaultInjector(config.faults), dialect.prefix)]
    if config.api_key:
        middlewares.append(_auth_middleware(dialect, config.api_key))
    app = web.Application(middlewares=middlewares)
    app[SANDBOX_STORE] = store
    if webhooks is not None:
        app.cleanup_ctx.append(webhooks.run)
    dialect.register(app.router, store, config.list_cap)
    register_admin(app.router, store)
    return app


async def run_sandbox(host: str, port: int, config: SandboxConfig) -> None:
    """Serve the sandbox until cancelled (`python run.py sandbox`)."""
    runner = web.AppRunner(
        create_sandbox_app(config), access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT_S
    )
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
        log.info("sandbox_listening", addresses=[str(a) for a in runner.addresses])
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
