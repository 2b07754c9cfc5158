-- Tenants cannot collide (issue 13). An order's stream is order:{client}:{key}; keys may hold
-- ':', so a client id holding one could name another client's stream ("acme:eu" + "x" is
-- "acme" + "eu:x"). Client ids are therefore a plain token, without ':'.
-- NOT VALID: keys made before keep their client ids ("shop backend" was allowed); those
-- holding ':' are refused at authentication (ledger/auth.py) and must be re-issued.
ALTER TABLE api_keys ADD CONSTRAINT api_keys_client_id_token
    CHECK (client_id ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$') NOT VALID;

-- And the log itself refuses an order, in an order stream, whose client is not such a token or
-- whose stream does not spell its owner and key, whatever wrote it. The payload is parsed once
-- per order (a function, so the three fields come from one parse). NOT VALID: history is never
-- rewritten, so rows from before this check stay as they are (reads compare the order's client
-- with the caller as well); every new row is checked.
CREATE FUNCTION order_stream_spells_owner(p_stream text, p_data bytea) RETURNS boolean
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog AS $$
    SELECT coalesce(d ->> 'client_id', '') ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'
           AND p_stream IS NOT DISTINCT FROM
               'order:' || (d ->> 'client_id') || ':' || (d ->> 'idempotency_key')
    FROM (SELECT convert_from(p_data, 'UTF8')::jsonb AS d) AS payload
$$;
ALTER TABLE events ADD CONSTRAINT events_order_stream_owner CHECK (
    type <> 'OrderRequested'
    OR stream_id NOT LIKE 'order:%'
    OR order_stream_spells_owner(stream_id, data)
) NOT VALID;

-- finance:read is one client's finance data; finance:all, granted by an admin, is every
-- client's and the vendor-wide reconciliation runs (docs/decisions-auth-money.md, who sees what).
ALTER TABLE api_keys DROP CONSTRAINT api_keys_scopes_check;
ALTER TABLE api_keys ADD CONSTRAINT api_keys_scopes_check CHECK (
    cardinality(scopes) > 0
    AND scopes <@ ARRAY['orders:write', 'finance:read', 'finance:all', 'admin']::text[]
);
