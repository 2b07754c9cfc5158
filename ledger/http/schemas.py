"""Request and response bodies of the order API: the single source of the OpenAPI document."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec
from msgspec import Meta

from ledger.money import CURRENCY_CODE_PATTERN
from ledger.orders.identifiers import Identifier
from ledger.orders.view import Card, Order

__all__ = ["Card", "CreateOrder", "Identifier", "Order"]

CurrencyCode = Annotated[str, Meta(pattern=CURRENCY_CODE_PATTERN, description="ISO 4217 code")]
Amount = Annotated[
    msgspec.Raw,
    Meta(
        description='Major units as a decimal string ("25.50") or JSON number; no more '
        "decimals than the currency allows",
        extra_json_schema={"oneOf": [{"type": "string"}, {"type": "number"}]},
    ),
]


class CreateOrder(msgspec.Struct, forbid_unknown_fields=True):
    customer_id: Annotated[Identifier, Meta(examples=["cust-42"])]
    brand_id: Annotated[Identifier, Meta(examples=["amazon-us"])]
    amount: Annotated[Amount, Meta(examples=["25.00"])]
    currency: Annotated[CurrencyCode, Meta(examples=["USD"])]
    idempotency_key: Annotated[str, Meta(examples=["order-2026-11-30-0001"])] | None = None


class RecordedEventView(msgspec.Struct):
    position: int
    version: int
    type: str
    recorded_at: datetime
    data: msgspec.Raw
    metadata: dict[str, str | int | None]


class OrderEvents(msgspec.Struct):
    idempotency_key: str
    events: list[RecordedEventView]


class RowProblem(msgspec.Struct):
    """One bad row of an uploaded file (a bulk CSV, a vendor's reconciliation file)."""

    row: int
    column: str | None
    reason: str


class ProblemBody(msgspec.Struct):
    """RFC 9457 problem details, with this API's extensions: `code` (stable, for programs),
    `field` (what was wrong), `request_id`; and per problem type: `errors`, `rows` and
    `error_count` for a refused file, `check` for a refused webhook signature,
    `required_scope` for a key without it, `limit_bytes` for a body over the limit."""

    type: str
    title: str
    status: int
    detail: str
    code: str
    field: str | None = None
    request_id: str | None = None
    errors: list[RowProblem] | None = None
    rows: int | None = None
    error_count: int | None = None
    check: str | None = None
    required_scope: str | None = None
    limit_bytes: int | None = None
