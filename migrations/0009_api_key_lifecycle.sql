-- API keys that end (issue 13): an expiry, the key a rotation replaced it with, and when it
-- was last used (written at most once a minute per key and process: ledger/auth.py).
ALTER TABLE api_keys
    ADD COLUMN expires_at   timestamptz CHECK (expires_at IS NULL OR expires_at > created_at),
    ADD COLUMN replaced_by  text REFERENCES api_keys (key_id),
    ADD COLUMN last_used_at timestamptz;
