"""The query parameters each route takes, one struct per route: the error middleware converts
a request's query with it (a parameter the route does not take, or of the wrong type, is a 400
naming it) and /openapi.json documents the route's parameters from it. Handlers then apply
their domain rules (from <= to, a currency's exponent, a cursor this API issued)."""

from __future__ import annotations

import functools
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from ledger.http.params import DEFAULT_LIMIT, MAX_LIMIT
from ledger.money import CURRENCY_CODE_PATTERN
from ledger.text import END_OF_TEXT

Moment = Annotated[
    str, Meta(description="ISO 8601 date (midnight UTC) or date-time with a UTC offset")
]
DAY_PATTERN = rf"^[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}{END_OF_TEXT}"  # [0-9]: \d is any script's digit
Day = Annotated[str, Meta(description="A business date, YYYY-MM-DD", pattern=DAY_PATTERN)]
Currency = Annotated[
    str, Meta(description="ISO 4217 code, e.g. EUR", pattern=CURRENCY_CODE_PATTERN)
]
Cursor = Annotated[str, Meta(description="The `next` cursor of the previous page")]
Limit = Annotated[int, Meta(ge=1, le=MAX_LIMIT, description=f"Page size (default {DEFAULT_LIMIT})")]
Flag = Literal["true", "false"]


class Query(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A route that takes no query parameters at all."""


class Paged(Query, frozen=True):
    after: Cursor | None = None
    limit: Limit | None = None


class OrdersQuery(Paged, frozen=True):
    status: Literal["pending", "fulfilled", "failed", "refunded"] | None = None
    start: Moment | None = msgspec.field(name="from", default=None)
    end: Moment | None = msgspec.field(name="to", default=None)
    customer_id: str | None = None


class DiscrepanciesQuery(Paged, frozen=True):
    state: Annotated[str, Meta(description="open, auto_resolved or resolved")] | None = None
    type: Annotated[str, Meta(description="The kind of finding, e.g. missing_at_vendor")] | None = (
        None
    )
    start: Moment | None = msgspec.field(name="from", default=None)
    end: Moment | None = msgspec.field(name="to", default=None)


class GLDailyQuery(Query, frozen=True):
    start: Day | None = msgspec.field(name="from", default=None)
    end: Day | None = msgspec.field(name="to", default=None)
    currency: Currency | None = None


class GLJournalQuery(Query, frozen=True):
    date: Day
    currency: Currency | None = None


Excel = Annotated[Flag, Meta(description="true: a UTF-8 mark first, for Excel")]


class GLDailyCsvQuery(GLDailyQuery, frozen=True):
    excel: Excel | None = None


class GLJournalCsvQuery(GLJournalQuery, frozen=True):
    excel: Excel | None = None


class BulkUploadQuery(Query, frozen=True):
    partial: (
        Annotated[Flag, Meta(description="true: order the valid rows of a file with bad ones")]
        | None
    ) = None


class FileImportQuery(Query, frozen=True):
    vendor: Annotated[str, Meta(description="The vendor the file comes from (required)")] | None = (
        None
    )
    start: Moment | None = msgspec.field(name="from", default=None)
    end: Moment | None = msgspec.field(name="to", default=None)


class WebhookEventsQuery(Paged, frozen=True):
    endpoint: Annotated[str, Meta(description="Only this endpoint's deliveries")] | None = None
    status: Literal["pending", "delivered", "failed"] | None = None


class VendorWebhooksQuery(Paged, frozen=True):
    vendor: str | None = None
    outcome: Literal["accepted", "duplicate", "refused"] | None = None


@functools.cache  # read on every request; msgspec.structs.fields inspects the class each time
def names(query: type[Query]) -> tuple[str, ...]:
    return tuple(field.encode_name for field in msgspec.structs.fields(query))
