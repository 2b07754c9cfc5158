"""Tremendous' webhooks: one endpoint per organisation receives every event, signed with
`Tremendous-Webhook-Signature: sha256=<hex HMAC-SHA256 of the raw body>` under the webhook's
private key, deduplicated by the event's `uuid`. They name a resource only (an order or a
reward by Tremendous' id), never our external_id: the order is found by its vendor id. Pure.
"""

from __future__ import annotations

import msgspec

from ledger.vendors.base import WebhookHint, decode_webhook

SIGNATURE_HEADER = "Tremendous-Webhook-Signature"


class Resource(msgspec.Struct, frozen=True):
    id: str
    type: str


class Payload(msgspec.Struct, frozen=True):
    resource: Resource


class Event(msgspec.Struct, frozen=True):
    event: str
    uuid: str
    payload: Payload


_decoder = msgspec.json.Decoder(Event)


def parse_webhook(body: bytes) -> WebhookHint:
    event = decode_webhook(_decoder, body)
    resource = event.payload.resource
    # A reward's id is not its order's: only order events name an order we can find.
    order_id = resource.id if resource.type == "orders" else None
    return WebhookHint(event.event, event.uuid, vendor_order_id=order_id)
