-- Card secrets (code, PIN, redemption URL) are bearer value: kept out of the event log and
-- stored only as AES-GCM ciphertext bound to the order's stream id (the AAD).
CREATE TABLE card_secrets (
    stream_id  text PRIMARY KEY,
    key_id     text        NOT NULL,
    nonce      bytea       NOT NULL,
    ciphertext bytea       NOT NULL,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
