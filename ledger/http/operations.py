"""Every route the service serves, as one table: what /openapi.json documents and what the
error middleware checks a request's query against. A test checks the table against the app's
router, so neither can drift from the code."""

from __future__ import annotations

from typing import NamedTuple

from ledger.bulk.batches import BatchProgress
from ledger.http.queries import (
    BulkUploadQuery,
    DiscrepanciesQuery,
    FileImportQuery,
    GLDailyCsvQuery,
    GLDailyQuery,
    GLJournalCsvQuery,
    GLJournalQuery,
    OrdersQuery,
    Query,
)
from ledger.http.responses import (
    ApiKeyList,
    DiscrepancyPage,
    GLDaily,
    Health,
    Journal,
    OrderPage,
    Readiness,
    Received,
    Resolved,
    RunView,
)
from ledger.http.routes.api_keys import CreateApiKey, CreatedApiKey, RotateApiKey
from ledger.http.routes.bulk import BulkUploaded
from ledger.http.routes.discrepancies import Resolve
from ledger.http.routes.reconciliations import RunAccepted, StartReconciliation
from ledger.http.schemas import CreateOrder, Order, OrderEvents, ProblemBody
from ledger.reconciliation.progress import RunSummary


class Operation(NamedTuple):
    method: str
    path: str
    summary: str
    # A type is a JSON body of that schema; a str a text body of that media type (a tuple:
    # any of those media types); None none. The same for the request body.
    responses: dict[int, type | str | None]
    request: type | str | tuple[str, ...] | None = None
    scope: str | None = None
    # The route's query parameters (ledger.http.queries): none unless it says.
    query: type[Query] = Query


# Text bodies, by media type.
CSV = "text/csv"
PROMETHEUS_TEXT = "text/plain; version=0.0.4"
# A bulk file: the CSV itself, or a form's `file` field.
BULK_FILE = (CSV, "multipart/form-data")
_PROBLEMS = {400: ProblemBody, 401: ProblemBody, 403: ProblemBody}
OPERATIONS = (
    Operation(
        "post",
        "/api/v1/orders",
        "Submit an order, idempotently (Idempotency-Key header or idempotency_key field)",
        {
            200: Order,
            201: Order,
            202: Order,
            **_PROBLEMS,
            409: ProblemBody,
            413: ProblemBody,
            415: ProblemBody,
            422: ProblemBody,
        },
        CreateOrder,
        "orders:write",
    ),
    Operation(
        "get",
        "/api/v1/orders/{idempotency_key}",
        "An order's current state",
        {200: Order, **_PROBLEMS, 404: ProblemBody},
        scope="orders:write",
    ),
    Operation(
        "get",
        "/api/v1/orders/{idempotency_key}/events",
        "An order's full audit trail",
        {200: OrderEvents, **_PROBLEMS, 404: ProblemBody},
        scope="orders:write",
    ),
    Operation(
        "post",
        "/api/v1/bulk-orders",
        "Upload a CSV of orders (text/csv body or multipart field `file`; ?partial=true orders"
        " the valid rows of a file with bad ones); 422 lists every bad row in `errors`"
        " ({row, column, reason}); 200 + Idempotent-Replayed when the file was accepted before",
        {
            200: BulkUploaded,
            202: BulkUploaded,
            **_PROBLEMS,
            413: ProblemBody,
            415: ProblemBody,
            422: ProblemBody,
        },
        BULK_FILE,
        scope="orders:write",
        query=BulkUploadQuery,
    ),
    Operation(
        "get",
        "/api/v1/bulk-orders/{batch_id}",
        "A bulk batch's progress: its orders counted per status",
        {200: BatchProgress, **_PROBLEMS, 404: ProblemBody},
        scope="orders:write",
    ),
    Operation(
        "post",
        "/webhooks/{vendor}",
        "Signed vendor webhooks (authenticated by signature)",
        {200: Received, 400: ProblemBody, 401: ProblemBody, 404: ProblemBody, 413: ProblemBody},
        dict,  # the vendor's own JSON, signed byte for byte
    ),
    Operation(
        "get",
        "/api/v1/discrepancies",
        "Reconciliation findings, filtered and paged",
        {200: DiscrepancyPage, **_PROBLEMS},
        scope="finance:read",
        query=DiscrepanciesQuery,
    ),
    Operation(
        "post",
        "/api/v1/discrepancies/{discrepancy_id}/resolve",
        "Resolve a discrepancy (acknowledge, or accept the vendor's status)",
        {200: Resolved, **_PROBLEMS, 404: ProblemBody, 409: ProblemBody, 422: ProblemBody},
        Resolve,
        "admin",
    ),
    Operation(
        "get",
        "/api/v1/reconciliations/{run_id}",
        "A reconciliation run and its counts",
        {200: RunView, **_PROBLEMS, 404: ProblemBody},
        scope="finance:all",
    ),
    Operation(
        "post",
        "/api/v1/reconciliations",
        "Start a reconciliation run in the background (default: the previous business day)",
        {202: RunAccepted, **_PROBLEMS, 415: ProblemBody, 422: ProblemBody},
        StartReconciliation,
        "admin",
    ),
    Operation(
        "post",
        "/api/v1/reconciliations/files",
        "Import a vendor's text/csv reconciliation file (?vendor=NAME). Every row is checked"
        " before any is recorded: a 422 lists every bad row in `errors` ({row, column,"
        " reason}). 200 if imported before; 409 `import_in_progress` or `import_interrupted`"
        " (with Retry-After): send the same file again for its summary or to resume",
        {
            200: RunSummary,
            201: RunSummary,
            **_PROBLEMS,
            409: ProblemBody,
            413: ProblemBody,
            415: ProblemBody,
            422: ProblemBody,
        },
        CSV,
        scope="admin",
        query=FileImportQuery,
    ),
    Operation(
        "get",
        "/api/v1/orders",
        "The caller's orders, filtered and keyset-paged",
        {200: OrderPage, **_PROBLEMS},
        scope="finance:read",
        query=OrdersQuery,
    ),
    Operation(
        "get",
        "/api/v1/gl/daily",
        "Daily GL totals per currency and state",
        {200: GLDaily, **_PROBLEMS},
        scope="finance:read",
        query=GLDailyQuery,
    ),
    Operation(
        "get",
        "/api/v1/gl/daily.csv",
        "Daily GL totals as CSV",
        {200: CSV, **_PROBLEMS},
        scope="finance:read",
        query=GLDailyCsvQuery,
    ),
    Operation(
        "get",
        "/api/v1/gl/journal",
        "A business day's balanced journal",
        {200: Journal, **_PROBLEMS},
        scope="finance:read",
        query=GLJournalQuery,
    ),
    Operation(
        "get",
        "/api/v1/gl/journal.csv",
        "A business day's journal as CSV",
        {200: CSV, **_PROBLEMS},
        scope="finance:read",
        query=GLJournalCsvQuery,
    ),
    Operation("get", "/healthz", "The process is up", {200: Health}),
    Operation(
        "get",
        "/readyz",
        "Database, migrations and projection lag",
        {200: Readiness, 503: Readiness},
    ),
    Operation("get", "/metrics", "Prometheus text exposition", {200: PROMETHEUS_TEXT}),
    Operation(
        "get",
        "/api/v1/api-keys",
        "Every API key: ids, clients, scopes, expiry, rotation, last use; never a secret",
        {200: ApiKeyList, **_PROBLEMS},
        scope="admin",
    ),
    Operation(
        "post",
        "/api/v1/api-keys",
        "Create an API key; its plaintext is in this answer only",
        {201: CreatedApiKey, **_PROBLEMS, 422: ProblemBody},
        CreateApiKey,
        "admin",
    ),
    Operation(
        "delete",
        "/api/v1/api-keys/{key_id}",
        "Revoke an API key (idempotent); it fails from the next request on",
        {204: None, **_PROBLEMS, 404: ProblemBody},
        scope="admin",
    ),
    Operation(
        "post",
        "/api/v1/api-keys/{key_id}/rotate",
        "A new key for the same client and scopes; the old one works for overlap_s more",
        {201: CreatedApiKey, **_PROBLEMS, 409: ProblemBody, 422: ProblemBody},
        RotateApiKey,
        "admin",
    ),
    Operation("get", "/openapi.json", "This document", {200: dict}),
)

_BY_ROUTE = {(op.method.upper(), op.path): op for op in OPERATIONS}


def operation(method: str, path: str) -> Operation | None:
    """The table's entry for a matched route (its canonical path), if the app serves it."""
    return _BY_ROUTE.get((method, path))
