"""POST /webhooks/{vendor}: authenticated by signature alone, answered fast, appended once."""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal

import msgspec
import structlog
from aiohttp import web

from ledger.http import params
from ledger.http.auth import authorize
from ledger.http.keys import POOL, REFUSALS, REQUEST_ID, WEBHOOKS
from ledger.http.problems import Problem
from ledger.log import events as ev
from ledger.metrics import METRICS
from ledger.vendors.base import MalformedWebhook
from ledger.vendors.registry import WEBHOOK_PARSERS
from ledger.webhooks import inbox
from ledger.webhooks.signatures import SignatureError, verify_webhook

routes = web.RouteTableDef()
log = structlog.get_logger(__name__)
_encoder = msgspec.json.Encoder()


@routes.post("/webhooks/{vendor}")
async def receive_webhook(request: web.Request) -> web.Response:
    vendor = request.match_info["vendor"]
    config = request.app[WEBHOOKS].get(vendor)
    if config is None:
        raise Problem(
            404, "unknown_vendor", f"no webhooks are configured for {vendor!r}", field="vendor"
        )
    body = await request.read()  # the raw bytes, read once: the signature covers exactly these
    delivery = inbox.Delivery(
        vendor,
        inbox.kept_headers(request.headers),
        body,
        datetime.now(UTC),
        request[REQUEST_ID],
    )
    try:
        header_id = verify_webhook(config, request.headers, body, int(time.time()))
    except SignatureError as exc:
        METRICS.webhook_rejections.labels(vendor, exc.check).inc()
        log.warning("webhook rejected", vendor=vendor, check=exc.check, bytes=len(body))
        await _keep_refusal(request, delivery, f"invalid_signature ({exc.check}): {exc}")
        raise Problem(401, "invalid_signature", str(exc), extra={"check": exc.check}) from None
    try:
        hint = WEBHOOK_PARSERS[config.dialect](body)
        webhook_id = inbox.dedupe_id(hint, header_id)
    except MalformedWebhook as exc:
        # Signed by the vendor, yet not what its format says: likely a change on its side.
        METRICS.webhook_rejections.labels(vendor, "malformed_webhook").inc()
        log.warning("webhook malformed", vendor=vendor, error=str(exc), bytes=len(body))
        await _keep_refusal(request, delivery, f"malformed_webhook: {exc}")
        raise Problem(400, "malformed_webhook", str(exc)) from None
    metadata = {"request_id": request[REQUEST_ID], "actor": f"webhook:{vendor}"}
    fresh = await inbox.record(request.app[POOL], webhook_id, hint, delivery, metadata)
    METRICS.webhooks.labels(vendor, "recorded" if fresh else "duplicate").inc()
    return web.json_response({"received": True, "duplicate": not fresh})


async def _keep_refusal(request: web.Request, delivery: inbox.Delivery, reason: str) -> None:
    """Into the inbox while the vendor's refusal budget lasts (ledger/webhooks/refusals.py)."""
    if request.app[REFUSALS].take(delivery.vendor, time.monotonic()):
        await inbox.record_refusal(request.app[POOL], delivery, reason)
    else:
        METRICS.webhook_refusals_unkept.labels(delivery.vendor).inc()


class Confirmation(msgspec.Struct):
    status: str
    observed_at: datetime
    cause: str


class VendorWebhookView(msgspec.Struct):
    id: int
    vendor: str
    received_at: datetime
    outcome: Literal["accepted", "duplicate", "refused"]
    reason: str | None
    webhook_id: str | None
    event_type: str | None
    reference: str | None
    # The order's idempotency key when the webhook named one of ours.
    order: str | None
    headers: dict[str, str]
    body_sha256: str
    body_bytes: int
    request_id: str | None
    confirmation: Confirmation | None


class VendorWebhookPage(msgspec.Struct):
    items: list[VendorWebhookView]
    next: str | None


def _view(row: Mapping[str, Any]) -> VendorWebhookView:
    observed = row["confirmation"]
    confirmation = None
    if observed is not None:
        event = ev.decode(observed)
        assert isinstance(event, ev.VendorStatusObserved)
        confirmation = Confirmation(event.status, event.observed_at, event.cause)
    stream = row["stream_id"] or ""
    return VendorWebhookView(
        id=row["id"],
        vendor=row["vendor"],
        received_at=row["received_at"],
        outcome=row["outcome"],
        reason=row["reason"],
        webhook_id=row["webhook_id"],
        event_type=row["event_type"],
        reference=row["reference"],
        order=stream.split(":", 2)[2] if stream.startswith("order:") else None,
        headers=msgspec.json.decode(row["headers"]),
        body_sha256=row["body_sha256"],
        body_bytes=row["body_bytes"],
        request_id=row["request_id"],
        confirmation=confirmation,
    )


@routes.get("/api/v1/vendor-webhooks")
async def list_vendor_webhooks(request: web.Request) -> web.Response:
    """The inbox, newest first: every vendor webhook received, accepted or refused, and why."""
    await authorize(request, "admin")
    query = request.query
    outcome = params.choice(query, "outcome", ("accepted", "duplicate", "refused"))
    limit = params.limit(query)
    cursor = params.decode_cursor(query, tuple[int])
    before = cursor[0] if cursor else None
    rows = await inbox.listed(request.app[POOL], query.get("vendor"), outcome, before, limit + 1)
    page = rows[:limit]
    following = params.encode_cursor([page[-1]["id"]]) if len(rows) > limit else None
    body = VendorWebhookPage([_view(r) for r in page], following)
    return web.Response(body=_encoder.encode(body), content_type="application/json")
