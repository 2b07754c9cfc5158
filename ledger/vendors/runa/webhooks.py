"""Runa's webhooks: Svix deliveries (`svix-id`, `svix-timestamp`, `svix-signature`: the
Standard Webhooks scheme, verified by ledger.webhooks.signatures), whose body is the order
itself (`order.completion`). They name Runa's order id, and our reference when the order's
metadata is included. Pure."""

from __future__ import annotations

import msgspec

from ledger.vendors.base import WebhookHint, decode_webhook
from ledger.vendors.runa.records import REFERENCE_KEY

EVENT_TYPE = "order.completion"


class Completion(msgspec.Struct, frozen=True):
    id: str
    status: str
    metadata: dict[str, str] = {}


_decoder = msgspec.json.Decoder(Completion)


def parse_webhook(body: bytes) -> WebhookHint:
    order = decode_webhook(_decoder, body)
    reference = order.metadata.get(REFERENCE_KEY)
    return WebhookHint(EVENT_TYPE, None, reference, order.id, order.status)
