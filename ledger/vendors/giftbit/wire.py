"""Giftbit API v1 wire types, as its published API blueprint (Giftbit/Giftbit-API-Docs,
apiary.apib) describes them; docs/vendors.md says which facts are unconfirmed. Money is in
integer cents of the account's currency. One place, so a change in Giftbit's API is one edit.
"""

from __future__ import annotations

from typing import Annotated

import msgspec
from msgspec import Meta

from ledger.vendors.base import VendorId

Cents = Annotated[int, Meta(ge=0, lt=10**15)]


class CreateDirectLinks(msgspec.Struct, frozen=True):
    id: str  # ours: Giftbit creates at most one order per id
    price_in_cents: int
    brand_codes: list[str]
    link_count: int = 1


class Info(msgspec.Struct, frozen=True):
    code: str = ""
    message: str = ""


class Campaign(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    uuid: VendorId
    status: str
    price_in_cents: Cents
    brand_codes: list[str] = []
    # "yyyy-MM-dd HH:mm:ss", Pacific time, when given (unconfirmed for campaigns).
    created_date: str | None = None


class CampaignAnswer(msgspec.Struct, frozen=True):
    campaign: Campaign
    info: Info = Info()
    direct_links: list[str] = []


class DirectLink(msgspec.Struct, frozen=True):
    link: str


class LinksAnswer(msgspec.Struct, frozen=True):
    info: Info = Info()
    directlinks: list[DirectLink] = []


class Gift(msgspec.Struct, frozen=True, kw_only=True):
    uuid: VendorId
    campaign_uuid: VendorId
    campaign_id: str
    status: str
    price_in_cents: Cents
    created_date: str


class GiftsAnswer(msgspec.Struct, frozen=True):
    gifts: list[Gift]
    total_count: int
    offset: int = 0


class ErrorDetail(msgspec.Struct, frozen=True):
    code: str
    name: str = ""
    message: str = ""


class ErrorAnswer(msgspec.Struct, frozen=True):
    error: ErrorDetail


encoder = msgspec.json.Encoder()
create_decoder = msgspec.json.Decoder(CreateDirectLinks)
campaign_decoder = msgspec.json.Decoder(CampaignAnswer)
links_decoder = msgspec.json.Decoder(LinksAnswer)
gifts_decoder = msgspec.json.Decoder(GiftsAnswer)
error_decoder = msgspec.json.Decoder(ErrorAnswer)
