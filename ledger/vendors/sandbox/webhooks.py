"""Signed webhooks from the sandbox vendor: Standard Webhooks deliveries, retries, seeded faults.

The store announces state changes synchronously (it never awaits), so `changed` only builds the
event, draws its faults (in emission order, so a seed replays them) and queues it. One dispatcher
task owns the queue and the reorder hold and starts a task per event: a slow or failing receiver,
or an injected delay, never holds up the API or the other events. Format: docs/sandbox.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections import Counter
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol, cast

import aiohttp
import msgspec
import structlog
from aiohttp import web

from ledger.vendors.base import VendorStatus
from ledger.vendors.rest import WireOrder
from ledger.vendors.sandbox.faults import SandboxFaults, WebhookFate, WebhookFaultInjector, forge
from ledger.webhooks.signatures import SignatureError, parse_whsec, sign_standard

log = structlog.get_logger(__name__)

# Bounded retries, doubling from the base: a dead receiver costs at most 0.2+0.4+0.8+1.6 s per
# event, so tests finish, yet a receiver that blips once or twice still gets every event.
MAX_ATTEMPTS = 5
RETRY_BASE_S = 0.2
# A receiver that hangs is a failed attempt, as with real senders (Svix waits 15 s).
ATTEMPT_TIMEOUT = aiohttp.ClientTimeout(total=5.0)
# A reordered event goes out after the next one, or after this long if none comes, so a reorder
# on the last event of a burst never quietly turns into a drop.
REORDER_HOLD_S = 1.0
# Sleeps per delayed fulfilment before settling anyway (see _wake).
WAKE_PASSES = 3
# Every /_admin/stats key is listed up front so each shows as 0 before its first count.
_COUNTED = "events sent attempts failed dropped duplicated reordered forged in_flight"
STAT_KEYS = tuple(f"webhooks_{name}" for name in _COUNTED.split())

Clock = Callable[[], datetime]
EventType = Literal["order.pending", "order.fulfilled", "order.failed", "order.refunded"]


class EventData(msgspec.Struct, frozen=True):
    vendor_order_id: str
    reference: str
    status: VendorStatus
    amount_minor: int
    currency: str


class WebhookEvent(msgspec.Struct, frozen=True):
    id: str
    type: EventType
    created_at: datetime  # when the order changed, not when this delivery was attempted
    data: EventData


class Announcer(Protocol):
    """How a dialect's vendor words and signs a webhook (the sandbox's: StandardAnnouncer)."""

    def body(self, order: WireOrder, event_id: str) -> bytes: ...

    def headers(self, event_id: str, timestamp: int, body: bytes) -> dict[str, str]: ...

    def forge(self, body: bytes) -> bytes:
        """The body changed as an attacker would, to be sent under the genuine signature."""
        ...


class StandardAnnouncer:
    """The sandbox's own events (docs/sandbox.md), signed per Standard Webhooks."""

    def __init__(self, secret: str) -> None:
        try:
            parse_whsec(secret)
        except SignatureError as exc:
            raise ValueError(f"webhook_secret: {exc}") from None
        self._secret = secret

    def body(self, order: WireOrder, event_id: str) -> bytes:
        data = EventData(order.id, order.reference, order.status, order.amount_minor,
                         order.currency)  # fmt: skip
        kind = cast(EventType, f"order.{order.status}")  # one event type per vendor status
        return _encoder.encode(WebhookEvent(event_id, kind, order.updated_at, data))

    def headers(self, event_id: str, timestamp: int, body: bytes) -> dict[str, str]:
        signature = sign_standard(self._secret, event_id, timestamp, body)
        return {"webhook-id": event_id, "webhook-timestamp": str(timestamp),
                "webhook-signature": signature}  # fmt: skip

    def forge(self, body: bytes) -> bytes:
        return forge(body)


@dataclass(slots=True)
class _Queued:
    event_id: str
    body: bytes  # encoded once: every attempt and duplicate sends these exact bytes
    fate: WebhookFate
    first_attempted: asyncio.Event = field(default_factory=asyncio.Event)


_encoder = msgspec.json.Encoder()


class WebhookSender:
    def __init__(self, url: str, announcer: Announcer, faults: SandboxFaults, clock: Clock) -> None:
        self._url, self._announcer, self._clock = url, announcer, clock
        self._injector = WebhookFaultInjector(faults)
        self._queue: asyncio.Queue[_Queued] = asyncio.Queue()
        self._tasks: set[asyncio.Task[None]] = set()
        self._session: aiohttp.ClientSession  # opened by run(), before any delivery can start
        self._counts: Counter[str] = Counter()

    def changed(self, order: WireOrder) -> None:
        """Announce an order's new state; never blocks."""
        event_id = f"evt_{secrets.token_hex(12)}"
        body = self._announcer.body(order, event_id)
        fate = self._injector.draw()
        self._counts["webhooks_events"] += 1
        if fate.drop:
            self._counts["webhooks_dropped"] += 1
            return
        self._counts["webhooks_in_flight"] += 1
        self._queue.put_nowait(_Queued(event_id, body, fate))

    def wake_at(self, when: datetime, settle: Callable[[], None]) -> None:
        """Settle at `when` by the sandbox clock: a delayed fulfilment is announced on time."""
        self._spawn(self._wake(when, settle))

    def stats(self) -> dict[str, int]:
        return {key: self._counts[key] for key in STAT_KEYS}

    async def run(self, app: web.Application) -> AsyncIterator[None]:
        """cleanup_ctx: the session and the dispatcher live exactly as long as the app. Events
        still queued or retrying at shutdown are lost, as a crashed vendor would lose them."""
        self._session = aiohttp.ClientSession(timeout=ATTEMPT_TIMEOUT)
        self._spawn(self._dispatch())
        yield
        for task in (tasks := list(self._tasks)):
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._session.close()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _wake(self, when: datetime, settle: Callable[[], None]) -> None:
        # The loop's timer may fire a hair before the sandbox clock reaches `when`, so look again;
        # a frozen test clock gives up after a few passes and leaves settling to the next read.
        for _ in range(WAKE_PASSES):
            if (wait := (when - self._clock()).total_seconds()) <= 0:
                break
            await asyncio.sleep(wait)
        settle()

    async def _dispatch(self) -> None:
        held: _Queued | None = None
        while True:
            item: _Queued | None = None
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(REORDER_HOLD_S if held else None):
                    item = await self._queue.get()
            if item is not None and held is None and item.fate.reorder:
                held = item
                self._counts["webhooks_reordered"] += 1
                continue
            if item is not None:
                self._spawn(self._deliver(item))
            if held is not None:
                after = item.first_attempted if item is not None else None
                self._spawn(self._deliver(held, after=after))
                held = None

    async def _deliver(self, item: _Queued, after: asyncio.Event | None = None) -> None:
        event_id, fate = item.event_id, item.fate
        try:
            if after is not None:
                await after.wait()
            await asyncio.sleep(fate.delay_s)
            if fate.forged:
                # Sent first, one attempt, same id: a receiver that dedupes before verifying
                # would then throw the genuine delivery away.
                self._counts["webhooks_forged"] += 1
                await self._attempt(event_id, self._announcer.forge(item.body), signed=item.body)
            self._counts["webhooks_duplicated"] += fate.duplicate
            for _copy in range(2 if fate.duplicate else 1):  # a duplicate reuses the event id
                await self._with_retries(item)
        finally:
            item.first_attempted.set()  # never leave a held event waiting on a failed task
            self._counts["webhooks_in_flight"] -= 1

    async def _with_retries(self, item: _Queued) -> None:
        for attempt in range(1, MAX_ATTEMPTS + 1):
            ok = await self._attempt(item.event_id, item.body, signed=item.body)
            item.first_attempted.set()
            if ok:
                self._counts["webhooks_sent"] += 1
                return
            if attempt < MAX_ATTEMPTS:
                await asyncio.sleep(RETRY_BASE_S * 2 ** (attempt - 1))
        self._counts["webhooks_failed"] += 1
        log.warning("webhook_gave_up", event_id=item.event_id, attempts=MAX_ATTEMPTS)

    async def _attempt(self, event_id: str, body: bytes, *, signed: bytes) -> bool:
        # Signed per attempt with the current time, so a late retry still passes the receiver's
        # timestamp tolerance; the id stays the event's, so the receiver can dedupe.
        timestamp = int(self._clock().timestamp())
        headers = self._announcer.headers(event_id, timestamp, signed)
        headers["content-type"] = "application/json"
        self._counts["webhooks_attempts"] += 1
        try:
            async with self._session.post(self._url, data=body, headers=headers) as resp:
                if 200 <= resp.status < 300:
                    return True
                reason = f"http_{resp.status}"
        except (aiohttp.ClientError, TimeoutError) as exc:
            reason = type(exc).__name__
        log.info("webhook_attempt_failed", event_id=event_id, reason=reason)
        return False
