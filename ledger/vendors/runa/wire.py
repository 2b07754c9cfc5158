"""Runa API v2 (version 2024-02-05) wire types, as developer.runa.io describes them;
docs/vendors.md says which facts are unconfirmed. Money is decimal text in responses. One
place, so a change in Runa's API is one edit.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated

import msgspec
from msgspec import Meta

from ledger.vendors.base import VendorCursor, VendorId

API_VERSION = "2024-02-05"


class PaymentMethod(msgspec.Struct, frozen=True):
    currency: str
    type: str = "ACCOUNT_BALANCE"


class Distribution(msgspec.Struct, frozen=True):
    type: str = "PAYOUT_LINK"


class Products(msgspec.Struct, frozen=True):
    value: str
    type: str = "SINGLE"


class Item(msgspec.Struct, frozen=True):
    face_value: Decimal
    products: Products
    distribution_method: Distribution = Distribution()


class OrderRequest(msgspec.Struct, frozen=True):
    payment_method: PaymentMethod
    items: list[Item]
    # Our reference, so listings (which carry no idempotency key) can be matched to our log.
    metadata: dict[str, str] = {}


class Payout(msgspec.Struct, frozen=True):
    url: str | None = None
    status: str | None = None


class OrderItem(msgspec.Struct, frozen=True, kw_only=True):
    face_value: Decimal | None = None
    currency: str | None = None
    payout: Payout | None = None


class Order(msgspec.Struct, frozen=True, kw_only=True):
    id: VendorId
    status: str
    created_at: Annotated[datetime, Meta(tz=True)] | None = None
    currency: str | None = None
    items: list[OrderItem] = []
    metadata: dict[str, str] = {}


class Cursors(msgspec.Struct, frozen=True):
    after: VendorCursor | None = None


class Pagination(msgspec.Struct, frozen=True):
    cursors: Cursors = Cursors()


class OrderList(msgspec.Struct, frozen=True):
    items: list[Order]
    pagination: Pagination = Pagination()


class ApiError(msgspec.Struct, frozen=True):
    """Runa says to branch on `type` only; message and help may change."""

    type: str
    message: str = ""


encoder = msgspec.json.Encoder(decimal_format="number")
request_decoder = msgspec.json.Decoder(OrderRequest)
order_decoder = msgspec.json.Decoder(Order)
list_decoder = msgspec.json.Decoder(OrderList)
error_decoder = msgspec.json.Decoder(ApiError)
