"""POST /webhooks/{vendor}: authenticated by signature alone, answered fast, appended once."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import structlog
from aiohttp import web

from ledger.http.keys import POOL, REQUEST_ID, WEBHOOKS
from ledger.http.problems import Problem
from ledger.metrics import METRICS
from ledger.vendors.base import MalformedWebhook
from ledger.vendors.registry import WEBHOOK_PARSERS
from ledger.webhooks import inbox
from ledger.webhooks.signatures import SignatureError, verify_webhook

routes = web.RouteTableDef()
log = structlog.get_logger(__name__)


@routes.post("/webhooks/{vendor}")
async def receive_webhook(request: web.Request) -> web.Response:
    vendor = request.match_info["vendor"]
    config = request.app[WEBHOOKS].get(vendor)
    if config is None:
        raise Problem(
            404, "unknown_vendor", f"no webhooks are configured for {vendor!r}", field="vendor"
        )
    body = await request.read()  # the raw bytes, read once: the signature covers exactly these
    try:
        header_id = verify_webhook(config, request.headers, body, int(time.time()))
    except SignatureError as exc:
        METRICS.webhook_rejections.labels(vendor, exc.check).inc()
        log.warning("webhook rejected", vendor=vendor, check=exc.check, bytes=len(body))
        raise Problem(401, "invalid_signature", str(exc), extra={"check": exc.check}) from None
    try:
        hint = WEBHOOK_PARSERS[config.dialect](body)
        webhook_id = inbox.dedupe_id(hint, header_id)
    except MalformedWebhook as exc:
        raise Problem(400, "malformed_webhook", str(exc)) from None
    fresh = await inbox.record(
        request.app[POOL],
        vendor,
        webhook_id,
        hint,
        body,
        datetime.now(UTC),
        {"request_id": request[REQUEST_ID], "actor": f"webhook:{vendor}"},
    )
    METRICS.webhooks.labels(vendor, "recorded" if fresh else "duplicate").inc()
    return web.json_response({"received": True, "duplicate": not fresh})
