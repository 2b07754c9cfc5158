"""The vendor adapter protocol and the outcomes of one vendor call.

An adapter speaks one vendor's dialect; everything above it (retries, the circuit breaker, the
ledger's decisions) sees only these types. Outcomes are tagged so they can be encoded into events
and decoded back without guessing which variant a payload was.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Annotated, Final, Literal, Protocol, TypeVar

import msgspec
from msgspec import Meta

from ledger.money import MoneyError, exponent
from ledger.text import CONTROL_CHARACTERS, END_OF_TEXT, moment_problem

T = TypeVar("T")
# Vendor data is validated at the edge, before it can become an event: a NUL byte or an
# integer past PostgreSQL's bigint would be appended without trouble and then fail every
# projection batch that reads it, for ever. Bounds as ledger.reconciliation.file_format's.
_NO_CONTROL_CHARACTER = rf"^[^\x00-\x1f\x7f]+{END_OF_TEXT}"
VendorId = Annotated[str, Meta(min_length=1, max_length=255, pattern=_NO_CONTROL_CHARACTER)]
# A listing's next-page token is opaque, but ReconciliationPageRecorded keeps it so a resumed run
# continues after it: the rule of a vendor's ids, with room for a signed or encoded position.
VendorCursor = Annotated[str, Meta(min_length=1, max_length=2048, pattern=_NO_CONTROL_CHARACTER)]
VendorStatus = Literal["pending", "fulfilled", "failed", "refunded"]
UnknownReason = Literal[
    "timeout", "connection", "server_error", "rate_limited", "circuit_open", "unexpected_reply",
    "reference_conflict",
]  # fmt: skip
# The reasons that say the vendor itself is unwell (no answer, or a server error). A 429 is a
# healthy vendor pacing us, an open circuit is our own doing, an unexpected 4xx is
# configuration or a proxy: none of them is evidence for opening the breaker.
UNHEALTHY: frozenset[str] = frozenset({"timeout", "connection", "server_error"})


class VendorOrderRequest(msgspec.Struct, frozen=True):
    """One order as we send it. `reference` is also the vendor idempotency key: every retry of
    the same order reuses it, which is what stops a retry from becoming a second charge."""

    reference: str
    amount_minor: int
    currency: str
    brand_id: str
    customer_id: str


class CardSecret(msgspec.Struct, frozen=True):
    """The redeemable card. Bearer value: whoever holds the code can spend it."""

    code: str
    pin: str | None = None
    url: str | None = None

    def __repr__(self) -> str:
        # Outcomes end up in log lines and tracebacks; the secret must never follow them there.
        return "CardSecret(<redacted>)"


class Fulfilled(msgspec.Struct, frozen=True, tag="fulfilled"):
    """The vendor has the order and it is finished: charged, and `refunded` since when the
    vendor's own word for its status (`vendor_status`, e.g. Tango's CANCELLED) means so."""

    vendor_order_id: str
    vendor_status: str
    card: CardSecret | None = None
    refunded: bool = False


class Accepted(msgspec.Struct, frozen=True, tag="accepted"):
    """The vendor has the order but has not finished it: still pending on our side."""

    vendor_order_id: str
    vendor_status: str


class Rejected(msgspec.Struct, frozen=True, tag="rejected"):
    """A terminal answer: the vendor refused or failed the order. Retrying cannot change it.

    `business` is True when the refusal is the vendor's own verdict on the order (one of its
    documented business error codes); False for a 401 after a key rotation, a proxy's 404 or
    413, an error body the vendor never documented.
    """

    code: str
    message: str
    http_status: int
    vendor_order_id: str | None = None
    business: bool = True


class Unknown(msgspec.Struct, frozen=True, tag="unknown"):
    """Ambiguous: the vendor may or may not have the order. Only a retry with the same
    reference, or a lookup by reference, can settle it."""

    reason: UnknownReason
    detail: str
    http_status: int | None = None
    retry_after: float | None = None


Outcome = Fulfilled | Accepted | Rejected | Unknown


def answered(
    ours: VendorStatus | None,
    vendor_order_id: str,
    vendor_status: str,
    http_status: int,
    card: CardSecret | None,
) -> Outcome:
    """The outcome of a create the vendor answered with its order, by the order's status as
    ours (None: a status the vendor never documented, which only a later look-up can read)."""
    if ours == "pending":
        return Accepted(vendor_order_id, vendor_status)
    if ours == "failed":
        detail = f"vendor reports the order {vendor_status}"
        return Rejected("vendor_failed", detail, http_status, vendor_order_id)
    if ours is None:
        detail = f"{vendor_order_id}: a status the vendor never documented, {vendor_status!r}"
        return Unknown("unexpected_reply", detail[:200], http_status)
    # fulfilled, or refunded on a replay of an order refunded since: either way the vendor
    # charged and finished it.
    return Fulfilled(vendor_order_id, vendor_status, card, refunded=ours == "refunded")


def unmapped_brand(brand_id: str, product_id_name: str) -> Rejected:
    """An order for a brand the vendor's section maps to no product: refused before anything
    is sent. The vendor never saw it, so it is terminal."""
    detail = f"no {product_id_name} configured for brand {brand_id!r}"
    return Rejected("brand_not_configured", detail, 422)


# What every adapter calls an answer holding another order than the one asked, under our key;
# an unknown's reason when the vendor holds one under our reference and does not say which.
REFERENCE_CONFLICT: Final = "reference_conflict"


def settle_refusal(outcome: Outcome, vendor_may_have_it: bool) -> Outcome:
    """After an attempt that may have reached the vendor, only the vendor's business errors
    may fail the order: any other refusal answers this request, not whether the order exists,
    so it is unknown and a look-up settles it. A reference_conflict then is that attempt's
    order, charged (our reference is this order's alone; what was sent for it can differ after
    a brand is remapped): accepted under the vendor's id, or unknown as a conflict if none."""
    conflict = isinstance(outcome, Rejected) and outcome.code == REFERENCE_CONFLICT
    if conflict and vendor_may_have_it and outcome.vendor_order_id is not None:
        return Accepted(outcome.vendor_order_id, REFERENCE_CONFLICT)
    if isinstance(outcome, Rejected) and (conflict or not outcome.business) and vendor_may_have_it:
        detail = f"{outcome.http_status} {outcome.code} after an unanswered attempt"
        reason = REFERENCE_CONFLICT if conflict else "unexpected_reply"
        return Unknown(reason, detail, outcome.http_status)
    return outcome


# Amounts read back from a vendor are bounded like every vendor amount (PostgreSQL's bigint,
# with room): a vendor's absurd number must not become an event every projection chokes on.
MAX_VENDOR_MINOR = 10**15 - 1


def vendor_amount(value: Decimal | None, currency: str | None) -> tuple[int, str] | None:
    """(minor units, currency) of an amount a vendor gave in major units, exactly; None when it
    is not a positive whole number of the currency's minor units up to MAX_VENDOR_MINOR.

    Unlike a client's text, a vendor's number may carry zeros past the exponent or exponent
    notation: a Java double writes 5000 yen as `5000.0` and ten million dong as `1.0E7`. The
    digits are read as written, never through a decimal context that could round them."""
    if value is None or currency is None or not value.is_finite():
        return None
    try:
        places_allowed = exponent(currency)
    except MoneyError:
        return None
    sign, digits, places = value.as_tuple()
    assert isinstance(places, int)  # finite
    written = "".join(map(str, digits))
    significant = written.rstrip("0")
    if sign or not significant:
        return None
    shift = places + len(written) - len(significant) + places_allowed
    # Finer than a minor unit; or too long, checked before the int so it is never huge.
    if shift < 0 or len(significant) + shift > len(str(MAX_VENDOR_MINOR)):
        return None
    minor = int(significant) * 10**shift
    return (minor, currency) if minor <= MAX_VENDOR_MINOR else None


class VendorOrderView(msgspec.Struct, frozen=True):
    """The vendor's record of an order, as read back (lookup, reconciliation)."""

    vendor_order_id: str
    reference: str
    status: VendorStatus
    amount_minor: int
    currency: str
    created_at: datetime
    updated_at: datetime
    card: CardSecret | None = None

    def __post_init__(self) -> None:
        # Whichever adapter built it: its times become events a projection stores.
        for field in ("created_at", "updated_at"):
            if (problem := moment_problem(getattr(self, field))) is not None:
                detail = f"{self.vendor_order_id}: {field} {problem}"
                raise VendorUnavailable("bad_response", detail[:200], http_status=200)


class TransactionPage(msgspec.Struct, frozen=True):
    records: list[VendorOrderView]
    next_cursor: str | None


class MalformedWebhook(ValueError):
    """The signature was valid but the body is not a webhook of the vendor's we understand."""


class WebhookHint(msgspec.Struct, frozen=True):
    """What a vendor's webhook says, read from its body: a hint about one order (named by our
    reference, or only by the vendor's id), never a fact until a look-up confirms it."""

    event_type: str
    webhook_id: str | None = None
    reference: str | None = None
    vendor_order_id: str | None = None
    status: str | None = None

    def __post_init__(self) -> None:
        # Every field is a name or a status, never prose: a control character in one is a
        # webhook we do not understand (our references never hold one), refused as malformed
        # whichever vendor's parser built it.
        for field in self.__struct_fields__:
            value = getattr(self, field)
            if value is not None and CONTROL_CHARACTERS.search(value):
                raise MalformedWebhook(f"the webhook's {field} holds a control character")


def decode_webhook(decoder: msgspec.json.Decoder[T], body: bytes) -> T:
    try:
        return decoder.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise MalformedWebhook(str(exc)) from None


class VendorUnavailable(Exception):
    """A read could not be answered (timeout, connection, 5xx, 429, unexpected reply).

    Distinct from "no such order": a lookup that fails must never be mistaken for absence, or the
    caller would resubmit an order the vendor already has.
    """

    def __init__(
        self,
        reason: str,
        detail: str,
        *,
        http_status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.http_status = http_status
        self.retry_after = retry_after


def unhealthy_read(exc: VendorUnavailable) -> bool:
    """Whether a failed read says the vendor is unwell (no answer, or a 5xx)."""
    return exc.reason in UNHEALTHY or (exc.http_status is not None and exc.http_status >= 500)


class VendorAdapter(Protocol):
    name: str
    # How long the vendor remembers an idempotency key. Past it, a resubmission with the same key
    # can create a second order, so callers must look the order up by reference first.
    key_retention: timedelta
    # False for a vendor that finds an order only by its own id (Runa): without that id, a
    # replay of the create within key retention is the look-up.
    looks_up_by_reference: bool

    async def create_order(self, req: VendorOrderRequest) -> Outcome:
        """Exactly one attempt. Never raises for HTTP or network trouble: it classifies it."""
        ...

    async def get_order(
        self, reference: str, vendor_order_id: str | None = None
    ) -> VendorOrderView | None:
        """None when the vendor has no order with this reference; raises VendorUnavailable
        when it cannot tell. `vendor_order_id`, when an earlier answer gave one, is what a
        vendor that cannot look up by reference needs."""
        ...

    async def list_transactions(
        self, start: datetime, end: datetime, cursor: str | None, limit: int
    ) -> TransactionPage:
        """Records created *or changed* in [start, end): a reconciliation run of a day must
        see that day's refunds of older sales. A vendor that lists by creation only needs its
        adapter to widen the listing back over the vendor's refund horizon."""
        ...
