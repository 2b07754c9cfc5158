-- Outgoing merchant webhooks (issue 16). The endpoints' history is in the log (stream
-- webhook-endpoint:{id}); these rows are its current state, written in the same transaction as
-- each of its events, so a delivery never reads an endpoint older than its last event.
CREATE TABLE webhook_endpoints (
    id             text        PRIMARY KEY,
    client_id      text        NOT NULL,
    url            text        NOT NULL,
    events         text[]      NOT NULL,
    description    text        NOT NULL DEFAULT '',
    -- What the creating key could read: finance events of no client, its own, or every one.
    finance_scope  text        NOT NULL CHECK (finance_scope IN ('none', 'own', 'all')),
    disabled       boolean     NOT NULL DEFAULT false,
    disabled_reason text,
    deleted        boolean     NOT NULL DEFAULT false,
    -- When the current run of failed attempts began (NULL after a success): an endpoint failing
    -- for WEBHOOK_DISABLE_AFTER_S is disabled.
    failing_since  timestamptz,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL
);
CREATE INDEX webhook_endpoints_client ON webhook_endpoints (client_id);

-- Signing secrets, encrypted like card secrets (AES-GCM, SECRETS_KEY): bearer credentials never
-- go into the log. During a rotation the old one signs beside the new until expires_at.
CREATE TABLE webhook_secrets (
    endpoint_id text        NOT NULL REFERENCES webhook_endpoints (id),
    secret_id   text        NOT NULL,
    key_id      text        NOT NULL,
    nonce       bytea       NOT NULL,
    ciphertext  bytea       NOT NULL,
    created_at  timestamptz NOT NULL,
    expires_at  timestamptz,
    PRIMARY KEY (endpoint_id, secret_id)
);

-- The events a merchant can receive, derived from the log by the announcer (one per source
-- event and type; the id is a hash of them, so it is the same after any rebuild).
-- client_id NULL: vendor-wide (reconciliation.completed), for finance:all endpoints only.
CREATE TABLE webhook_events (
    id          text        PRIMARY KEY,
    type        text        NOT NULL,
    client_id   text,
    -- Deliveries of one ordering key go out in seq order (an order's stream and version).
    ordering_key text       NOT NULL,
    seq         bigint      NOT NULL,
    occurred_at timestamptz NOT NULL,
    payload     bytea       NOT NULL
);
CREATE INDEX webhook_events_client ON webhook_events (client_id, occurred_at);

-- One row per event and endpoint: the queue. Every attempt is also an event in the endpoint's
-- stream (WebhookDeliveryAttempted), with its status, latency and error.
CREATE TABLE webhook_deliveries (
    endpoint_id     text        NOT NULL REFERENCES webhook_endpoints (id),
    event_id        text        NOT NULL REFERENCES webhook_events (id),
    ordering_key    text        NOT NULL,
    seq             bigint      NOT NULL,
    occurred_at     timestamptz NOT NULL,
    status          text        NOT NULL DEFAULT 'pending'
                                CHECK (status IN ('pending', 'delivered', 'failed')),
    -- Attempts in this round (a resend or recover starts a new round: its backoff starts
    -- again, and its attempts are numbered from 1 in the endpoint's stream).
    attempts        integer     NOT NULL DEFAULT 0,
    -- When this round of attempts began (the first, a resend, a recover): retries stop
    -- WEBHOOK_RETRY_WINDOW_S after it.
    queued_at       timestamptz NOT NULL,
    next_attempt_at timestamptz NOT NULL,
    last_status     integer,
    last_error      text,
    delivered_at    timestamptz,
    PRIMARY KEY (endpoint_id, event_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at)
    WHERE status = 'pending';
-- "Is an earlier event of this order still undelivered?", asked for every due delivery.
CREATE INDEX webhook_deliveries_order ON webhook_deliveries (endpoint_id, ordering_key, seq)
    WHERE status = 'pending';
CREATE INDEX webhook_deliveries_event ON webhook_deliveries (event_id);
-- GET /api/v1/webhook-events: an endpoint's deliveries in the order their events happened.
CREATE INDEX webhook_deliveries_listed ON webhook_deliveries (endpoint_id, occurred_at, event_id);

-- Whether an endpoint may receive an event: an order's only its own client's; a discrepancy its
-- client's finance endpoints and every finance:all one; a run (no client) finance:all ones.
-- One definition for the announcer's queueing and a recover's.
CREATE FUNCTION webhook_visible(p_type text, p_event_client text, p_endpoint_client text,
                                p_finance_scope text) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN p_type LIKE 'order.%' THEN p_endpoint_client = p_event_client
                WHEN p_event_client IS NULL THEN p_finance_scope = 'all'
                ELSE (p_endpoint_client = p_event_client AND p_finance_scope <> 'none')
                     OR p_finance_scope = 'all' END
$$;

-- The attempts of one announcement, found in the log without scanning an endpoint's stream:
-- WebhookDeliveryAttempted rows only, by the announcement they attempted.
CREATE FUNCTION webhook_attempted_event(p_data bytea) RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog AS $$
    SELECT convert_from(p_data, 'UTF8')::jsonb ->> 'event_id'
$$;
CREATE INDEX events_webhook_attempts ON events (webhook_attempted_event(data))
    WHERE type = 'WebhookDeliveryAttempted';

-- Every vendor webhook that reached POST /webhooks/{vendor}: accepted, duplicate or refused,
-- and why. Refused ones keep their headers and a hash of the body, never the body (it may be
-- anyone's bytes); accepted ones are in the log as WebhookReceived besides.
CREATE TABLE vendor_webhook_inbox (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    vendor      text        NOT NULL,
    received_at timestamptz NOT NULL,
    outcome     text        NOT NULL CHECK (outcome IN ('accepted', 'duplicate', 'refused')),
    reason      text,
    webhook_id  text,
    event_type  text,
    reference   text,
    stream_id   text,
    headers     jsonb       NOT NULL,
    body_sha256 text        NOT NULL,
    body_bytes  integer     NOT NULL,
    request_id  text
);
CREATE INDEX vendor_webhook_inbox_vendor ON vendor_webhook_inbox (vendor, outcome, id);
CREATE INDEX vendor_webhook_inbox_outcome ON vendor_webhook_inbox (outcome, id);
