-- Our vendor reference -> order stream, written in the same transaction as OrderRequested, so
-- a webhook or a reconciliation record can always find its order (projections may lag).
CREATE TABLE order_references (
    vendor           text NOT NULL,
    vendor_reference text NOT NULL,
    stream_id        text NOT NULL UNIQUE,
    PRIMARY KEY (vendor, vendor_reference)
);

-- One row per accepted webhook id: the dedupe check, inserted in the same transaction as the
-- WebhookReceived event, so two racing deliveries append exactly once.
CREATE TABLE webhook_receipts (
    vendor      text        NOT NULL,
    webhook_id  text        NOT NULL,
    stream_id   text        NOT NULL,
    received_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (vendor, webhook_id)
);
