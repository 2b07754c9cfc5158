"""Builders for events used across tests (fixed clock: tests never read the wall clock)."""

from datetime import UTC, datetime

from ledger.log.events import OrderRequested, VendorRecordObserved
from ledger.orders.decisions import SubmitOrder

T0 = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)


def order_requested(
    key: str,
    *,
    amount_minor: int = 2500,
    currency: str = "USD",
    client: str = "c",
    requested_at: datetime = T0,
):
    return OrderRequested(
        client_id=client,
        idempotency_key=key,
        customer_id="cust-1",
        brand_id="amazon-us",
        amount_minor=amount_minor,
        currency=currency,
        fingerprint="f" * 64,
        vendor="sandbox",
        vendor_reference=f"ref-{key}",
        requested_at=requested_at,
    )


def submit_order(**changes: object) -> SubmitOrder:
    """The order command a client sends, with any field changed."""
    fields: dict[str, object] = dict(
        client_id="acme",
        idempotency_key="order-0001",
        customer_id="cust-1",
        brand_id="amazon-us",
        amount_minor=2500,
        currency="USD",
        vendor="sandbox",
    )
    return SubmitOrder(**(fields | changes))  # type: ignore[arg-type]


def vendor_record(**changes: object) -> VendorRecordObserved:
    """A vendor's record of order `gcl-1` as a reconciliation run observed it."""
    fields: dict[str, object] = dict(
        run_id="run_1",
        vendor="sandbox",
        vendor_order_id="vo_1",
        reference="gcl-1",
        status="fulfilled",
        amount_minor=2500,
        currency="USD",
        vendor_created_at=T0,
        vendor_updated_at=T0,
        observed_at=T0,
    )
    return VendorRecordObserved(**(fields | changes))  # type: ignore[arg-type]
