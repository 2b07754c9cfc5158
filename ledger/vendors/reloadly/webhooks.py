"""Reloadly's webhooks, as integrators' code shows them (docs/vendors.md: unconfirmed):
`X-Reloadly-Signature` is a hex HMAC-SHA256 of `body:X-Reloadly-Request-Timestamp` under the
webhook's signing secret; the body names the transaction, our customIdentifier and its status.
They carry no id of their own: a transaction's status is one event. Pure.
"""

from __future__ import annotations

import msgspec

from ledger.vendors.base import WebhookHint, decode_webhook

SIGNATURE_HEADER = "X-Reloadly-Signature"
TIMESTAMP_HEADER = "X-Reloadly-Request-Timestamp"


class Data(msgspec.Struct, frozen=True, rename="camel"):
    transaction_id: int
    status: str
    custom_identifier: str | None = None


class Event(msgspec.Struct, frozen=True):
    type: str
    data: Data


_decoder = msgspec.json.Decoder(Event)


def parse_webhook(body: bytes) -> WebhookHint:
    event = decode_webhook(_decoder, body)
    data = event.data
    transaction = str(data.transaction_id)
    return WebhookHint(
        event.type, f"{transaction}:{data.status}", data.custom_identifier, transaction, data.status
    )
