"""The deliverer: sends queued announcements to merchant endpoints, signed per Standard Webhooks,
at least once, in order per order, retrying with backoff for three days.

One node sends (advisory lease), so no delivery is claimed: each step records the sends that
were answered (the delivery row and a WebhookDeliveryAttempted event, in one transaction), then
starts what is due into the free slots, with no transaction open. No step waits for a slow
receiver, so one that hangs holds only its own share of the slots. A crash, or a stop, between a
send and its record sends it again, with the same `webhook-id`: receivers dedupe by it.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import NamedTuple

import aiohttp
import asyncpg
import structlog

from ledger.log import events as ev
from ledger.log.followers import follow_with_lease
from ledger.metrics import METRICS
from ledger.orders.vault import CardVault
from ledger.text import printable
from ledger.webhooks import endpoints
from ledger.webhooks.egress import PublicOnlyResolver, RefusedTarget, check_url
from ledger.webhooks.retries import next_attempt, retry_after_s
from ledger.webhooks.signatures import sign_standard

log = structlog.get_logger(__name__)
NAME = "webhook_deliveries"
# Sends out at once that are still prompt: enough to keep many receivers busy. One endpoint
# has at most PER_ENDPOINT out: one answering in 100 ms still gets 40 deliveries a second.
CONCURRENCY = 16
PER_ENDPOINT = 4
# A send out longer than this is slow and stops counting against CONCURRENCY: a receiver is to
# answer at once and work after. Hanging endpoints enough to fill every slot (four) used to
# hold up all the others until their sends timed out (WEBHOOK_TIMEOUT_S, 10 s); now for a
# second. MAX_OUT bounds the sockets slow sends hold: sixteen hanging endpoints' shares.
SLOW_AFTER_S = 1.0
MAX_OUT = 64
# While sends are out, how long a step waits for one to be answered before it looks for newly
# due deliveries: the most a new announcement waits behind slow receivers.
LOOK_AGAIN_S = 0.2
# The part of a receiver's error answer kept with the attempt: enough to say what it was.
ERROR_CHARS = 200

# Due, on an endpoint that may receive, and no earlier announcement of the same order (or
# discrepancy) still undelivered to that endpoint: a later status never overtakes an earlier.
# Not out already ($4, $5: the endpoint and event of each send out), on an endpoint that does
# not have its share out ($3). In the index's order with a limit, as a plain scan stops early
# with a backlog; ranking each endpoint's due rows instead sorted every due row on each step
# (132 ms against 1.2 ms with 100,000 due).
_DUE = """
    SELECT d.endpoint_id, d.event_id, d.attempts, d.queued_at, e.url, a.payload
    FROM webhook_deliveries d
    JOIN webhook_endpoints e ON e.id = d.endpoint_id AND NOT e.disabled AND NOT e.deleted
    JOIN webhook_events a ON a.id = d.event_id
    WHERE d.status = 'pending' AND d.next_attempt_at <= $1
      AND d.endpoint_id <> ALL($3::text[])
      AND (d.endpoint_id, d.event_id) NOT IN (SELECT * FROM unnest($4::text[], $5::text[]))
      AND NOT EXISTS (SELECT 1 FROM webhook_deliveries p
                      WHERE p.endpoint_id = d.endpoint_id AND p.ordering_key = d.ordering_key
                        AND p.status = 'pending' AND p.seq < d.seq)
    ORDER BY d.next_attempt_at LIMIT $2"""
_RECORD = """
    UPDATE webhook_deliveries SET status = $3, attempts = attempts + 1, next_attempt_at = $4,
           last_status = $5, last_error = $6, delivered_at = $7
    -- unless re-queued (a resend, a recover) or attempted by another node since it was read
    WHERE endpoint_id = $1 AND event_id = $2 AND queued_at = $8 AND attempts = $9
      AND status = 'pending'"""
_FAILING = """
    UPDATE webhook_endpoints
    SET failing_since = CASE WHEN $2 THEN NULL ELSE coalesce(failing_since, $3) END
    WHERE id = $1 RETURNING failing_since"""


class DeliveryPolicy(NamedTuple):
    allow_private: bool
    timeout_s: float
    retry_base_s: float
    retry_window_s: float
    disable_after_s: float


class Sent(NamedTuple):
    http_status: int | None
    latency_ms: int
    error: str | None
    retry_after: str | None

    @property
    def delivered(self) -> bool:
        return self.http_status is not None and 200 <= self.http_status < 300


def signed_headers(
    secrets: list[str], event_id: str, timestamp: int, body: bytes
) -> dict[str, str]:
    """Standard Webhooks headers; one signature per signing secret (two during a rotation)."""
    return {
        "webhook-id": event_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(sign_standard(s, event_id, timestamp, body) for s in secrets),
        "Content-Type": "application/json",
        "User-Agent": "giftcard-ledger-webhooks/1",
    }


class Deliverer:
    def __init__(
        self,
        vault: CardVault,
        policy: DeliveryPolicy,
        clock: Callable[[], datetime],
        draw: Callable[[], float],
    ) -> None:
        self._vault, self._policy, self._clock, self._draw = vault, policy, clock, draw
        self._session: aiohttp.ClientSession | None = None
        # The sends out, by (endpoint, event): the due row each was read as, its task, and when
        # it started (monotonic).
        self._out: dict[tuple[str, str], tuple[asyncpg.Record, asyncio.Task[Sent], float]] = {}

    async def _send(
        self, session: aiohttp.ClientSession, url: str, headers: dict, body: bytes
    ) -> Sent:
        started = time.monotonic()

        def took() -> int:
            return round((time.monotonic() - started) * 1000)

        try:
            check_url(url, self._policy.allow_private)
            async with session.post(url, data=body, headers=headers, allow_redirects=False) as resp:
                answer = await resp.content.read(ERROR_CHARS)
                text = printable(answer.decode("utf-8", "replace"))
                error = None if 200 <= resp.status < 300 else f"HTTP {resp.status}: {text}"
                if 300 <= resp.status < 400:
                    error = f"HTTP {resp.status}: redirects are not followed"
                return Sent(resp.status, took(), error, resp.headers.get("Retry-After"))
        except RefusedTarget as exc:
            return Sent(None, took(), f"refused: the URL {exc}", None)
        except TimeoutError:
            return Sent(None, took(), f"timed out after {self._policy.timeout_s:g} s", None)
        except (aiohttp.ClientError, OSError) as exc:
            error = printable(f"{type(exc).__name__}: {exc}"[:ERROR_CHARS])
            return Sent(None, took(), error, None)

    async def _record(
        self, conn: asyncpg.Connection, due: asyncpg.Record, sent: Sent, now: datetime
    ) -> None:
        attempt, endpoint_id = due["attempts"] + 1, due["endpoint_id"]
        gone = sent.http_status == 410
        later: datetime | None = None
        if sent.delivered:
            outcome = "delivered"
        elif gone:
            # Kept pending: the endpoint is disabled now, and a recover after re-enabling it
            # (or re-enabling it alone) sends it again.
            outcome, later = "failed", now
        else:
            later = next_attempt(
                attempt,
                due["queued_at"],
                now,
                base_s=self._policy.retry_base_s,
                window_s=self._policy.retry_window_s,
                draw=self._draw(),
                retry_after=retry_after_s(sent.retry_after, now),
            )
            outcome = "failed" if later is not None else "given_up"
        status = {"delivered": "delivered", "failed": "pending", "given_up": "failed"}[outcome]
        attempted = ev.WebhookDeliveryAttempted(
            event_id=due["event_id"],
            attempt=attempt,
            outcome=outcome,
            attempted_at=now,
            latency_ms=sent.latency_ms,
            http_status=sent.http_status,
            error=sent.error,
            next_attempt_at=later,
        )
        async with conn.transaction():
            recorded = await conn.execute(
                _RECORD,
                endpoint_id,
                due["event_id"],
                status,
                later or now,
                sent.http_status,
                sent.error,
                now if sent.delivered else None,
                due["queued_at"],
                due["attempts"],
            )
            if recorded == "UPDATE 0":
                return  # stale (this node lost the lease mid-send): changes nothing
            # The endpoint's row before its stream, as every change to it and a recover take
            # them (endpoints.lock_for_change): appending first deadlocked with a DELETE.
            failing_since = await conn.fetchval(_FAILING, endpoint_id, sent.delivered, now)
            too_long = timedelta(seconds=self._policy.disable_after_s)
            disabling = gone or (failing_since is not None and now - failing_since >= too_long)
            if disabling:
                await endpoints.lock_for_change(conn, endpoint_id)
            await endpoints.append_attempt(conn, endpoint_id, attempted)
            if disabling:
                detail = (
                    "it answered 410 Gone"
                    if gone
                    else f"every attempt failed since {failing_since:%Y-%m-%d %H:%M} UTC"
                )
                disabled = ev.WebhookEndpointDisabled(
                    reason="gone" if gone else "failing", detail=detail, disabled_at=now
                )
                await endpoints.disable(conn, endpoint_id, disabled)
                log.warning("webhook endpoint disabled", endpoint_id=endpoint_id, why=detail)
        METRICS.webhook_deliveries.labels(outcome).inc()

    async def step(self, conn: asyncpg.Connection) -> bool:
        """Record what was answered, send what is due into the free slots; True while sends
        are out (the next step comes at once), False when there is nothing to do."""
        await self._record_answered(conn)
        slow_since = time.monotonic() - SLOW_AFTER_S
        prompt = sum(started > slow_since for _, _, started in self._out.values())
        free = min(CONCURRENCY - prompt, MAX_OUT - len(self._out))
        if free > 0:
            await self._start_due(conn, free)
        if not self._out:
            return False
        tasks = [task for _, task, _ in self._out.values()]
        await asyncio.wait(tasks, timeout=LOOK_AGAIN_S, return_when=asyncio.FIRST_COMPLETED)
        await self._record_answered(conn)
        return True

    async def _record_answered(self, conn: asyncpg.Connection) -> None:
        recorded_at = self._clock()
        for key, (due, task, _) in list(self._out.items()):
            if task.done():
                await self._record(conn, due, task.result(), recorded_at)
                # Only once recorded: after a lost connection, the record is made on the next.
                del self._out[key]

    async def _start_due(self, conn: asyncpg.Connection, free: int) -> None:
        assert self._session is not None
        now = self._clock()
        keys = list(self._out)
        sending = Counter(endpoint_id for endpoint_id, _ in keys)
        full = [endpoint_id for endpoint_id, n in sending.items() if n >= PER_ENDPOINT]
        fetched = await conn.fetch(
            _DUE,
            now,
            free,
            full,
            [endpoint_id for endpoint_id, _ in keys],
            [event_id for _, event_id in keys],
        )
        # One endpoint's rows may fill this page: past its share they wait, and the next step
        # (within LOOK_AGAIN_S) leaves that endpoint out and reads the others'.
        due = []
        for d in fetched:
            if sending[d["endpoint_id"]] < PER_ENDPOINT:
                sending[d["endpoint_id"]] += 1
                due.append(d)
        secrets = {
            endpoint_id: await endpoints.signing_secrets(conn, self._vault, endpoint_id, now)
            for endpoint_id in {d["endpoint_id"] for d in due}
        }
        timestamp = int(now.timestamp())
        for d in due:
            headers = signed_headers(
                secrets[d["endpoint_id"]], d["event_id"], timestamp, d["payload"]
            )
            send = self._send(self._session, d["url"], headers, d["payload"])
            started = time.monotonic()
            self._out[d["endpoint_id"], d["event_id"]] = (d, asyncio.create_task(send), started)

    async def _abandon_sends(self) -> None:
        """Stopping: sends still out are dropped unrecorded, so they go again (same id)."""
        tasks = [task for _, task, _ in self._out.values()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._out.clear()

    async def run(self, dsn: str, stop: asyncio.Event, poll_interval: float) -> None:
        resolver = None if self._policy.allow_private else PublicOnlyResolver()
        # No connector limit of its own: step() bounds the sends out (MAX_OUT), and a limit
        # below that would queue sends inside aiohttp, to time out there unsent.
        connector = aiohttp.TCPConnector(resolver=resolver, limit=0)
        timeout = aiohttp.ClientTimeout(total=self._policy.timeout_s)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            self._session = session
            try:
                await follow_with_lease(dsn, NAME, stop, poll_interval, self.step)
            finally:
                await self._abandon_sends()
