-- Projection checkpoints: the cursor pair of the last event a projection applied. Written in
-- the same transaction as the projection's rows, so every event is applied exactly once.
CREATE TABLE projection_checkpoints (
    name        text PRIMARY KEY,
    tx_id       xid8        NOT NULL DEFAULT '0'::xid8,
    position    bigint      NOT NULL DEFAULT 0,
    -- The shape of the tables the rows were written for; a mismatch forces a rebuild.
    schema_hash text        NOT NULL DEFAULT '',
    updated_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);
