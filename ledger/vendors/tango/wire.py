"""Tango Card RaaS v2 wire types, as its published swagger (tangocard-raas-client-starter) and
developer pages describe them; docs/vendors.md says which facts are unconfirmed. One place, so
a change in Tango's API is one edit.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated

import msgspec
from msgspec import Meta

from ledger.vendors.base import VendorId

# Tango's own bound on externalRefID; our vendor references are far shorter.
MAX_EXTERNAL_REF_LENGTH = 100


class CreateOrderCriteria(msgspec.Struct, frozen=True, rename="camel"):
    account_identifier: str
    customer_identifier: str
    utid: str
    # Major units of the account's currency, as a JSON number (encoded from a Decimal, exact).
    amount: Decimal
    external_ref_id: str = msgspec.field(name="externalRefID")
    # The merchant shows the card to its customer; Tango must not email anyone.
    send_email: bool = False


class MoneyView(msgspec.Struct, frozen=True, rename="camel"):
    value: Decimal | None = None
    currency_code: str | None = None
    total: Decimal | None = None


class CredentialView(msgspec.Struct, frozen=True, rename="camel"):
    label: str = ""
    value: str = ""
    type: str = ""
    credential_type: str = ""


class RewardView(msgspec.Struct, frozen=True, rename="camel"):
    credentials: dict[str, str] = {}
    credential_list: list[CredentialView] = []


class OrderView(msgspec.Struct, frozen=True, rename="camel", kw_only=True):
    """OrderViewSummary (create), OrderViewVerbose (by id), OrderListItemView (list: no reward)."""

    reference_order_id: VendorId = msgspec.field(name="referenceOrderID")
    external_ref_id: str | None = msgspec.field(name="externalRefID", default=None)
    utid: str
    status: str
    created_at: Annotated[datetime, Meta(tz=True)]
    amount_charged: MoneyView | None = None
    denomination: MoneyView | None = None
    reward: RewardView | None = None


class PageView(msgspec.Struct, frozen=True, rename="camel"):
    number: int
    elements_per_block: int
    result_count: int
    total_count: int


class OrderListView(msgspec.Struct, frozen=True):
    page: PageView
    orders: list[OrderView]


class ValidationError(msgspec.Struct, frozen=True, rename="camel"):
    path: str | None = None
    i18n_key: str | None = msgspec.field(name="i18nKey", default=None)
    message: str = ""


class ApiError(msgspec.Struct, frozen=True, rename="camel"):
    """`i18nKey` ("<status>.<nnn>") is the error's identity; `code` is deprecated by Tango."""

    http_code: int | None = None
    i18n_key: str | None = msgspec.field(name="i18nKey", default=None)
    message: str = ""
    errors: list[ValidationError] = []

    def key(self) -> str | None:
        return self.i18n_key or next((e.i18n_key for e in self.errors if e.i18n_key), None)


encoder = msgspec.json.Encoder(decimal_format="number")
order_criteria_decoder = msgspec.json.Decoder(CreateOrderCriteria)
order_decoder = msgspec.json.Decoder(OrderView)
list_decoder = msgspec.json.Decoder(OrderListView)
error_decoder = msgspec.json.Decoder(ApiError)
