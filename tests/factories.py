"""Builders for events used across tests (fixed clock: tests never read the wall clock)."""

from datetime import UTC, datetime

from ledger.log.events import OrderRequested

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
