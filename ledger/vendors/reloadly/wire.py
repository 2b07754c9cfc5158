"""Reloadly gift cards wire types, as its API documentation repository and official Java SDK
describe them; docs/vendors.md says which facts are unconfirmed. One place, so a change in
Reloadly's API is one edit.
"""

from __future__ import annotations

from decimal import Decimal

import msgspec

# Reloadly's versioned media type: without it, answers are not the v1 gift card API's.
MEDIA_TYPE = "application/com.reloadly.giftcards-v1+json"
# Reloadly's timestamps: "yyyy-MM-dd HH:mm:ss" (taken as UTC: its zone is unconfirmed).
STAMP = "%Y-%m-%d %H:%M:%S"


class TokenRequest(msgspec.Struct, frozen=True):
    client_id: str
    client_secret: str
    audience: str
    grant_type: str = "client_credentials"


class TokenAnswer(msgspec.Struct, frozen=True):
    access_token: str
    expires_in: int  # seconds


class PhoneDetails(msgspec.Struct, frozen=True):
    countryCode: str
    phoneNumber: str


class OrderRequest(msgspec.Struct, frozen=True, rename="camel"):
    product_id: int
    quantity: int
    unit_price: Decimal
    custom_identifier: str
    sender_name: str
    recipient_email: str


class Product(msgspec.Struct, frozen=True, rename="camel", kw_only=True):
    product_id: int
    unit_price: Decimal
    currency_code: str
    quantity: int = 1


class Transaction(msgspec.Struct, frozen=True, rename="camel", kw_only=True):
    transaction_id: int
    status: str
    custom_identifier: str | None = None
    transaction_created_time: str
    product: Product


class TransactionPage(msgspec.Struct, frozen=True, rename="camel"):
    """A Spring page, as /reports/transactions answers."""

    content: list[Transaction]
    total_pages: int
    number: int


class Card(msgspec.Struct, frozen=True, rename="camel"):
    card_number: str | None = None
    pin_code: str | None = None


class ApiError(msgspec.Struct, frozen=True, rename="camel"):
    message: str = ""
    error_code: str | None = None


encoder = msgspec.json.Encoder(decimal_format="number")
token_decoder = msgspec.json.Decoder(TokenAnswer)
token_request_decoder = msgspec.json.Decoder(TokenRequest)
order_request_decoder = msgspec.json.Decoder(OrderRequest)
transaction_decoder = msgspec.json.Decoder(Transaction)
page_decoder = msgspec.json.Decoder(TransactionPage)
cards_decoder = msgspec.json.Decoder(list[Card])
error_decoder = msgspec.json.Decoder(ApiError)
