"""The merchant webhook routes' entries in the route table (scope orders:write), and the vendor
webhook inbox's (admin)."""

from __future__ import annotations

from ledger.http.operations.record import PROBLEMS, Operation
from ledger.http.queries import Paged, VendorWebhooksQuery, WebhookEventsQuery
from ledger.http.routes.webhook_endpoints import (
    CreatedWebhookEndpoint,
    CreateWebhookEndpoint,
    RecoverWebhookEvents,
    Requeued,
    RotatedWebhookSecret,
    RotateWebhookSecret,
    UpdateWebhookEndpoint,
    WebhookEndpointPage,
)
from ledger.http.routes.webhook_events import ResendWebhookEvent, WebhookEventPage
from ledger.http.routes.webhooks import VendorWebhookPage
from ledger.http.schemas import ProblemBody
from ledger.webhooks.endpoints import Endpoint

_ONE = "/api/v1/webhook-endpoints/{endpoint_id}"
_MISSING = {404: ProblemBody}
_REFUSED = {415: ProblemBody, 422: ProblemBody}
WRITE = "orders:write"
WEBHOOK_OPERATIONS = (
    Operation(
        "post",
        "/api/v1/webhook-endpoints",
        "Register an endpoint for signed webhooks (Standard Webhooks); its secret is in this"
        " answer only. `events` omitted: every type this key may receive",
        {201: CreatedWebhookEndpoint, **PROBLEMS, **_REFUSED},
        CreateWebhookEndpoint,
        WRITE,
    ),
    Operation(
        "get",
        "/api/v1/webhook-endpoints",
        "The caller's endpoints, keyset-paged",
        {200: WebhookEndpointPage, **PROBLEMS},
        scope=WRITE,
        query=Paged,
    ),
    Operation("get", _ONE, "One endpoint", {200: Endpoint, **PROBLEMS, **_MISSING}, scope=WRITE),
    Operation(
        "patch",
        _ONE,
        "Change an endpoint's url, events or description, or disable / enable it (an endpoint"
        " made with finance scope is changed only by a key that has it)",
        {200: Endpoint, **PROBLEMS, **_MISSING, **_REFUSED},
        UpdateWebhookEndpoint,
        WRITE,
    ),
    Operation(
        "delete",
        _ONE,
        "Delete an endpoint: nothing is sent to it again",
        {204: None, **PROBLEMS, **_MISSING},
        scope=WRITE,
    ),
    Operation(
        "post",
        f"{_ONE}/rotate-secret",
        "A new signing secret; the previous one signs beside it for expire_previous_in_s"
        " (default WEBHOOK_SECRET_OVERLAP_S)",
        {200: RotatedWebhookSecret, **PROBLEMS, **_MISSING, **_REFUSED},
        RotateWebhookSecret,
        WRITE,
    ),
    Operation(
        "post",
        f"{_ONE}/recover",
        "Send again everything since `since` that the endpoint had, or should have had",
        {202: Requeued, **PROBLEMS, **_MISSING, **_REFUSED},
        RecoverWebhookEvents,
        WRITE,
    ),
    Operation(
        "get",
        "/api/v1/webhook-events",
        "Events sent to the caller's endpoints that its key's finance scope may see, with each"
        " delivery and every attempt",
        {200: WebhookEventPage, **PROBLEMS},
        scope=WRITE,
        query=WebhookEventsQuery,
    ),
    Operation(
        "post",
        "/api/v1/webhook-events/{event_id}/resend",
        "Send an event again, however old (to one endpoint, or every one that had it)",
        {202: Requeued, **PROBLEMS, **_MISSING, **_REFUSED},
        ResendWebhookEvent,
        WRITE,
    ),
    Operation(
        "get",
        "/api/v1/vendor-webhooks",
        "The inbox: every vendor webhook received, accepted or refused and why, with the"
        " confirmation it led to; refused ones keep headers and a hash of the body",
        {200: VendorWebhookPage, **PROBLEMS},
        scope="admin",
        query=VendorWebhooksQuery,
    ),
)
