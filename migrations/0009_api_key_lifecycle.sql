-- API keys that end (issue 13): an expiry, the key a rotation replaced it with, and when it
-- was last used (written at most once a minute per key and process: ledger/auth.py).
ALTER TABLE api_keys
    ADD COLUMN expires_at   timestamptz CHECK (expires_at IS NULL OR expires_at > created_at),
    ADD COLUMN replaced_by  text REFERENCES api_keys (key_id),
    ADD COLUMN last_used_at timestamptz;

-- The service may end a key (revoke, expire, hand over to a successor), never revive or
-- extend one: a compromised service cannot un-revoke a leaked key.
CREATE FUNCTION api_keys_only_end() RETURNS trigger LANGUAGE plpgsql
SET search_path = pg_catalog, public, pg_temp AS $$
BEGIN
    IF (OLD.revoked_at IS NOT NULL AND NEW.revoked_at IS DISTINCT FROM OLD.revoked_at)
       OR (OLD.expires_at IS NOT NULL
           AND (NEW.expires_at IS NULL OR NEW.expires_at > OLD.expires_at))
       OR (OLD.replaced_by IS NOT NULL AND NEW.replaced_by IS DISTINCT FROM OLD.replaced_by)
       OR NEW.key_hash <> OLD.key_hash OR NEW.client_id <> OLD.client_id
       OR NEW.scopes <> OLD.scopes THEN
        RAISE EXCEPTION 'API key % may only be ended, not revived or changed', OLD.key_id
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER api_keys_only_end BEFORE UPDATE ON api_keys
    FOR EACH ROW EXECUTE FUNCTION api_keys_only_end();
ALTER TABLE api_keys ENABLE ALWAYS TRIGGER api_keys_only_end;
