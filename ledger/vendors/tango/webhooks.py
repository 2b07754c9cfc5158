"""Tango's webhooks in their HMAC mode: `X-Signed-Payload` carries an HMAC-SHA256 of the raw
body under the subscription's shared key (header and encoding unconfirmed: both are
configuration). Events carry `eventId` (the dedupe key), a `revision` and `eventData`. A
revision out of order does no harm here: a webhook only makes the order due for a look-up,
and the look-up reads Tango's current record. Pure."""

from __future__ import annotations

import msgspec

from ledger.vendors.base import WebhookHint, decode_webhook

SIGNATURE_HEADER = "X-Signed-Payload"


class EventData(msgspec.Struct, frozen=True, rename="camel"):
    reference_order_id: str | None = msgspec.field(name="referenceOrderID", default=None)
    external_ref_id: str | None = msgspec.field(name="externalRefID", default=None)
    status: str | None = None


class Event(msgspec.Struct, frozen=True, rename="camel"):
    event_id: str
    event_types: list[str] = []
    category: str = ""
    revision: int = 0
    event_data: EventData = EventData()


_decoder = msgspec.json.Decoder(Event)


def parse_webhook(body: bytes) -> WebhookHint:
    event = decode_webhook(_decoder, body)
    kind = event.event_types[0] if event.event_types else event.category
    data = event.event_data
    return WebhookHint(
        kind or "unknown", event.event_id, data.external_ref_id, data.reference_order_id,
        data.status,
    )  # fmt: skip
