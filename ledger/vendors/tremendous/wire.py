"""Tremendous API v2 wire types, as its official SDKs (generated from its OpenAPI spec)
describe them; docs/vendors.md says which facts are unconfirmed. One place, so a change in
Tremendous' API is one edit.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated

import msgspec
from msgspec import Meta

from ledger.vendors.base import VendorId

Zoned = Annotated[datetime, Meta(tz=True)]


class Value(msgspec.Struct, frozen=True):
    denomination: Decimal
    currency_code: str


class Recipient(msgspec.Struct, frozen=True, omit_defaults=True):
    name: str | None = None
    email: str | None = None


class Delivery(msgspec.Struct, frozen=True):
    method: str = "LINK"
    status: str | None = None
    # Only in the answer to a create (and its replays), for LINK rewards.
    link: str | None = None


class LinkDelivery(msgspec.Struct, frozen=True):
    # Always sent (never omitted as a default): without it Tremendous emails the recipient.
    method: str = "LINK"


class RewardRequest(msgspec.Struct, frozen=True):
    value: Value
    products: list[str]
    recipient: Recipient
    # A link the merchant shows its customer: Tremendous must not email anyone.
    delivery: LinkDelivery = LinkDelivery()


class Payment(msgspec.Struct, frozen=True):
    funding_source_id: str


class CreateOrder(msgspec.Struct, frozen=True):
    external_id: str
    payment: Payment
    reward: RewardRequest


class Reward(msgspec.Struct, frozen=True, kw_only=True):
    id: VendorId
    value: Value | None = None
    delivery: Delivery | None = None


class Order(msgspec.Struct, frozen=True, kw_only=True):
    id: VendorId
    external_id: str | None = None
    created_at: Zoned
    status: str
    rewards: list[Reward] = []


class OrderEnvelope(msgspec.Struct, frozen=True):
    order: Order


class OrderList(msgspec.Struct, frozen=True):
    orders: list[Order]
    total_count: int


class LinkedReward(msgspec.Struct, frozen=True):
    id: str
    link: str


class LinkEnvelope(msgspec.Struct, frozen=True):
    reward: LinkedReward


class ErrorDetail(msgspec.Struct, frozen=True):
    message: str = ""


class ErrorBody(msgspec.Struct, frozen=True):
    """Tremendous' errors carry no code: the HTTP status and a message say what happened."""

    errors: ErrorDetail


encoder = msgspec.json.Encoder(decimal_format="number")
create_decoder = msgspec.json.Decoder(CreateOrder)
order_decoder = msgspec.json.Decoder(OrderEnvelope)
list_decoder = msgspec.json.Decoder(OrderList)
link_decoder = msgspec.json.Decoder(LinkEnvelope)
error_decoder = msgspec.json.Decoder(ErrorBody)
