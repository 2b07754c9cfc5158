"""Events of the merchant's outgoing webhook endpoints, in stream webhook-endpoint:{id}.

Part of the one catalog (ledger/log/events.py): the same rules hold (past tense, fields only
added at the end with a default). No signing secret is ever in an event: they are held
encrypted in webhook_secrets and named here by id.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from ledger.log.event_base import Event

FinanceScope = Literal["none", "own", "all"]


class WebhookEndpointCreated(Event):
    endpoint_id: str
    client_id: str
    url: str
    events: list[str]
    description: str
    secret_id: str
    created_at: datetime
    # Which finance events the creating key could read: none, its client's, or every client's.
    finance_scope: FinanceScope = "none"
    actor: str = ""


class WebhookEndpointUpdated(Event):
    """A PATCH: only the fields it changed are set."""

    updated_at: datetime
    actor: str
    url: str | None = None
    events: list[str] | None = None
    description: str | None = None
    disabled: bool | None = None


class WebhookEndpointDeleted(Event):
    deleted_at: datetime
    actor: str


class WebhookSecretRotated(Event):
    secret_id: str
    previous_secret_id: str
    # The previous secret keeps signing, beside the new one, until then.
    previous_expires_at: datetime
    rotated_at: datetime
    actor: str


class WebhookEndpointDisabled(Event):
    """The service disabled the endpoint: it answered 410 Gone, or failed for too long."""

    reason: Literal["gone", "failing"]
    detail: str
    disabled_at: datetime


class WebhookDeliveryAttempted(Event):
    event_id: str
    attempt: int
    outcome: Literal["delivered", "failed", "given_up"]
    attempted_at: datetime
    latency_ms: int
    http_status: int | None = None
    error: str | None = None
    next_attempt_at: datetime | None = None


class WebhookEventsRequeued(Event):
    """A resend of one event, or a recover of everything since a time."""

    reason: Literal["resend", "recover"]
    count: int
    requested_at: datetime
    actor: str
    event_id: str | None = None
    since: datetime | None = None
