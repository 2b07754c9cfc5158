"""Every route the service serves, as one table: what /openapi.json documents and what the
error middleware checks a request's query against. A test checks the table against the app's
router, so neither can drift from the code."""

from __future__ import annotations

from ledger.http.operations.core import CORE_OPERATIONS
from ledger.http.operations.record import Operation
from ledger.http.operations.webhooks import WEBHOOK_OPERATIONS

__all__ = ["OPERATIONS", "Operation", "operation"]

OPERATIONS = (*CORE_OPERATIONS, *WEBHOOK_OPERATIONS)
_BY_ROUTE = {(op.method.upper(), op.path): op for op in OPERATIONS}


def operation(method: str, path: str) -> Operation | None:
    """The table's entry for a matched route (its canonical path), if the app serves it."""
    return _BY_ROUTE.get((method, path))
