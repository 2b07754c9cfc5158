-- API keys. Contract: ../shared/DESIGN.md "HTTP API" (Auth). Only a SHA-256 of each key is
-- stored (ledger/auth.py says why a fast hash is right for random keys); the plaintext is
-- shown once, at creation. Rows are never deleted, so the audit trail of who held which key
-- survives revocation.
CREATE TABLE api_keys (
    -- The public part of the key (gcl_<key_id>_<secret>): safe to log and to show in lists.
    key_id     text        PRIMARY KEY CHECK (key_id ~ '^[0-9a-f]{16}$'),
    client_id  text        NOT NULL CHECK (client_id <> ''),
    name       text        NOT NULL CHECK (name <> ''),
    -- Authentication is one lookup through this unique index: no scan, no string compare.
    key_hash   bytea       NOT NULL UNIQUE CHECK (octet_length(key_hash) = 32),
    -- At least one scope, each a known one; a NULL element fails <@ and is refused too.
    scopes     text[]      NOT NULL CHECK (
        cardinality(scopes) > 0
        AND scopes <@ ARRAY['orders:write', 'finance:read', 'admin']::text[]
    ),
    created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    revoked_at timestamptz CHECK (revoked_at IS NULL OR revoked_at >= created_at)
);
