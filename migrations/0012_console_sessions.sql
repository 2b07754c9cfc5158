-- Browser console sessions (issue 17). A session is a random token in an HTTP-only cookie; only
-- its sha256 is stored, so a copy of this table signs nobody in. It names the API key that
-- signed in: every request re-reads that key, so a revoked or expired key ends its sessions at
-- once. The CSRF token is per session and goes into every form the console renders.
CREATE TABLE console_sessions (
    token_hash    bytea PRIMARY KEY,
    key_id        text NOT NULL REFERENCES api_keys (key_id),
    csrf_token    text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    expires_at    timestamptz NOT NULL,
    signed_out_at timestamptz
);
CREATE INDEX console_sessions_key ON console_sessions (key_id);
