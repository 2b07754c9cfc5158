"""The order, bulk, finance, key and operations routes' entries in the route table."""

from __future__ import annotations

from ledger.bulk.batches import BatchProgress
from ledger.http.operations.record import BULK_FILE, CSV, PROBLEMS, PROMETHEUS_TEXT, Operation
from ledger.http.queries import (
    BulkUploadQuery,
    DiscrepanciesQuery,
    FileImportQuery,
    GLDailyCsvQuery,
    GLDailyQuery,
    GLJournalCsvQuery,
    GLJournalQuery,
    OrdersQuery,
)
from ledger.http.responses import (
    ApiKeyList,
    DiscrepancyPage,
    DiscrepancyView,
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

CORE_OPERATIONS = (
    Operation(
        "post",
        "/api/v1/orders",
        "Submit an order, idempotently (Idempotency-Key header or idempotency_key field)",
        {
            200: Order,
            201: Order,
            202: Order,
            **PROBLEMS,
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
        {200: Order, **PROBLEMS, 404: ProblemBody},
        scope="orders:write",
    ),
    Operation(
        "get",
        "/api/v1/orders/{idempotency_key}/events",
        "An order's full audit trail",
        {200: OrderEvents, **PROBLEMS, 404: ProblemBody},
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
            **PROBLEMS,
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
        {200: BatchProgress, **PROBLEMS, 404: ProblemBody},
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
        {200: DiscrepancyPage, **PROBLEMS},
        scope="finance:read",
        query=DiscrepanciesQuery,
    ),
    Operation(
        "get",
        "/api/v1/discrepancies/{discrepancy_id}",
        "One reconciliation finding, as it is now",
        {200: DiscrepancyView, **PROBLEMS, 404: ProblemBody},
        scope="finance:read",
    ),
    Operation(
        "post",
        "/api/v1/discrepancies/{discrepancy_id}/resolve",
        "Resolve a discrepancy (acknowledge, or accept the vendor's status)",
        {200: Resolved, **PROBLEMS, 404: ProblemBody, 409: ProblemBody, 422: ProblemBody},
        Resolve,
        "admin",
    ),
    Operation(
        "get",
        "/api/v1/reconciliations/{run_id}",
        "A reconciliation run and its counts",
        {200: RunView, **PROBLEMS, 404: ProblemBody},
        scope="finance:all",
    ),
    Operation(
        "post",
        "/api/v1/reconciliations",
        "Start a reconciliation run in the background (default: the previous business day)",
        {202: RunAccepted, **PROBLEMS, 415: ProblemBody, 422: ProblemBody},
        StartReconciliation,
        "admin",
    ),
    Operation(
        "post",
        "/api/v1/reconciliations/{run_id}/resume",
        "Carry a stopped vendor run on from its last recorded page (202); 200 if it has"
        " completed; 409 `file_run` for a file's run, which resumes by importing the file again;"
        " 422 `unknown_vendor` if its vendor is no longer configured",
        {
            202: RunAccepted,
            200: RunAccepted,
            **PROBLEMS,
            404: ProblemBody,
            409: ProblemBody,
            422: ProblemBody,
        },
        scope="admin",
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
            **PROBLEMS,
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
        {200: OrderPage, **PROBLEMS},
        scope="finance:read",
        query=OrdersQuery,
    ),
    Operation(
        "get",
        "/api/v1/gl/daily",
        "Daily GL totals per currency and state",
        {200: GLDaily, **PROBLEMS},
        scope="finance:read",
        query=GLDailyQuery,
    ),
    Operation(
        "get",
        "/api/v1/gl/daily.csv",
        "Daily GL totals as CSV",
        {200: CSV, **PROBLEMS},
        scope="finance:read",
        query=GLDailyCsvQuery,
    ),
    Operation(
        "get",
        "/api/v1/gl/journal",
        "A business day's balanced journal",
        {200: Journal, **PROBLEMS},
        scope="finance:read",
        query=GLJournalQuery,
    ),
    Operation(
        "get",
        "/api/v1/gl/journal.csv",
        "A business day's journal as CSV",
        {200: CSV, **PROBLEMS},
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
        {200: ApiKeyList, **PROBLEMS},
        scope="admin",
    ),
    Operation(
        "post",
        "/api/v1/api-keys",
        "Create an API key; its plaintext is in this answer only",
        {201: CreatedApiKey, **PROBLEMS, 422: ProblemBody},
        CreateApiKey,
        "admin",
    ),
    Operation(
        "delete",
        "/api/v1/api-keys/{key_id}",
        "Revoke an API key (idempotent); refused at once here, within 5 s on other nodes",
        {204: None, **PROBLEMS, 404: ProblemBody},
        scope="admin",
    ),
    Operation(
        "post",
        "/api/v1/api-keys/{key_id}/rotate",
        "A new key for the same client and scopes; the old one works for overlap_s more",
        {201: CreatedApiKey, **PROBLEMS, 409: ProblemBody, 422: ProblemBody},
        RotateApiKey,
        "admin",
    ),
    Operation("get", "/openapi.json", "This document", {200: dict}),
)
