"""Every projection the service runs, by name (used by serve, rebuild and verify)."""

from __future__ import annotations

from projections.base import Projection
from projections.orders import OrdersProjection
from projections.reconciliation import ReconciliationProjection


def all_projections() -> dict[str, Projection]:
    projections: list[Projection] = [OrdersProjection(), ReconciliationProjection()]
    return {p.name: p for p in projections}
