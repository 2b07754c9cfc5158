"""Seeded fault injection for the sandbox vendor, configured by the SANDBOX_FAULTS string.

One `random.Random(seed)` drives every API decision and each request draws the same number of
values whatever happens to it, so a seed replays the same fault sequence for the same request
sequence. Webhook faults draw from a second generator seeded from the same seed, so turning
webhooks on never shifts the API's fault sequence.
"""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Awaitable, Callable

import msgspec
from aiohttp import web

# The Retry-After the sandbox sends with injected 429s: short enough for tests, long enough that
# a client ignoring it is visible in timings.
RATE_LIMIT_RETRY_AFTER_S = 1
# How long a handler hangs after committing when `hang_ms` is not given: far beyond any sane
# client attempt timeout, so the client gives up while the order exists.
DEFAULT_HANG_MS = 10_000


class SandboxFaults(msgspec.Struct, frozen=True, kw_only=True):
    seed: int = 0
    latency_ms: int = 0
    error_5xx: float = 0.0
    rate_429: float = 0.0
    timeout_after_commit: float = 0.0
    hang_ms: int = DEFAULT_HANG_MS
    # Drawn per webhook event by WebhookFaultInjector and applied by sandbox_webhooks.
    webhook_drop: float = 0.0
    webhook_duplicate: float = 0.0
    webhook_reorder: float = 0.0
    webhook_delay_ms: int = 0
    webhook_forged: float = 0.0


_PROBABILITIES = {
    "error_5xx",
    "rate_429",
    "timeout_after_commit",
    "webhook_drop",
    "webhook_duplicate",
    "webhook_reorder",
    "webhook_forged",
}
_DURATIONS_MS = {"latency_ms", "hang_ms", "webhook_delay_ms"}


def _parse_value(name: str, raw: str, item: str) -> int | float:
    try:
        if name == "seed":
            return int(raw)
        if name in _DURATIONS_MS:
            value: int | float = int(raw)
            if value < 0:
                raise ValueError
            return value
        value = float(raw)
    except ValueError:
        raise ValueError(f"SANDBOX_FAULTS item {item!r}: bad value for {name}") from None
    if not math.isfinite(value) or not 0.0 <= value <= 1.0:
        raise ValueError(f"SANDBOX_FAULTS item {item!r}: {name} must be a probability in [0, 1]")
    return value


def parse_faults(spec: str) -> SandboxFaults:
    """Parse `name=value,name=value`; an empty string means no faults."""
    values: dict[str, int | float] = {}
    for item in (part.strip() for part in spec.split(",")):
        if not item:
            continue
        name, sep, raw = (s.strip() for s in item.partition("="))
        if not sep or not raw:
            raise ValueError(f"SANDBOX_FAULTS item {item!r}: expected name=value")
        if name != "seed" and name not in _PROBABILITIES and name not in _DURATIONS_MS:
            raise ValueError(f"SANDBOX_FAULTS item {item!r}: unknown fault {name!r}")
        if name in values:
            raise ValueError(f"SANDBOX_FAULTS item {item!r}: {name} given twice")
        values[name] = _parse_value(name, raw, item)
    return SandboxFaults(**values)


class FaultInjector:
    """Decides, per vendor API request, which faults hit it."""

    def __init__(self, faults: SandboxFaults) -> None:
        self.faults = faults
        self._rng = random.Random(faults.seed)

    def draw(self) -> tuple[bool, bool, bool]:
        # Always three draws, in this order, whatever the outcome (see module docstring).
        f, r = self.faults, self._rng
        return (
            r.random() < f.error_5xx,
            r.random() < f.rate_429,
            r.random() < f.timeout_after_commit,
        )

    async def hang(self) -> None:
        await asyncio.sleep(self.faults.hang_ms / 1000)


class WebhookFate(msgspec.Struct, frozen=True, kw_only=True):
    """What happens to one webhook event on its way out."""

    drop: bool
    duplicate: bool
    reorder: bool
    forged: bool
    delay_s: float


class WebhookFaultInjector:
    """Decides, per webhook event, which faults hit its delivery."""

    def __init__(self, faults: SandboxFaults) -> None:
        self.faults = faults
        # A string seed is hashed deterministically, giving a stream independent of the API's.
        self._rng = random.Random(f"webhooks:{faults.seed}")

    def draw(self) -> WebhookFate:
        # Always five draws, in this order, whatever the outcome (see module docstring).
        f, r = self.faults, self._rng
        return WebhookFate(
            drop=r.random() < f.webhook_drop,
            duplicate=r.random() < f.webhook_duplicate,
            reorder=r.random() < f.webhook_reorder,
            forged=r.random() < f.webhook_forged,
            delay_s=r.random() * f.webhook_delay_ms / 1000,
        )


def forge(body: bytes) -> bytes:
    """A webhook body altered after signing, as a fraudster would: a hundredfold amount."""
    event = msgspec.json.decode(body)
    event["data"]["amount_minor"] *= 100
    return msgspec.json.encode(event)


# Set by every dialect's create handler on an answer that created an order (never on a replay),
# and taken off by the fault middleware: each vendor answers a fresh create with its own status.
CREATED_HEADER = "X-Sandbox-Created"


def mark_created(response: web.Response) -> web.Response:
    response.headers[CREATED_HEADER] = "1"
    return response


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Middleware = Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]


def fault_middleware(injector: FaultInjector, api_prefix: str = "/v1/") -> Middleware:
    """Faults on the vendor's API (paths under `api_prefix`), never on /_admin."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        # Admin routes are the test harness's view of the truth; faults there would lie.
        if not request.path.startswith(api_prefix):
            return await handler(request)
        fail_5xx, limit_429, hang = injector.draw()
        if injector.faults.latency_ms:
            await asyncio.sleep(injector.faults.latency_ms / 1000)
        if fail_5xx:
            return _error(503, "service_unavailable", "injected fault")
        if limit_429:
            response = _error(429, "rate_limited", "injected fault")
            response.headers["Retry-After"] = str(RATE_LIMIT_RETRY_AFTER_S)
            return response
        response = await handler(request)
        created = response.headers.pop(CREATED_HEADER, None) is not None
        if hang and created:
            # The order is committed; hanging now makes the client time out without knowing it
            # exists, the case that turns a naive retry into a duplicate charge. Only fresh
            # creates hang, so a retry with the same key gets the replayed original.
            await injector.hang()
        return response

    return middleware


def _error(status: int, code: str, message: str) -> web.Response:
    body = msgspec.json.encode({"error": {"code": code, "message": message}})
    return web.Response(status=status, body=body, content_type="application/json")
