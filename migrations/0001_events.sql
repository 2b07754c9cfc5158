-- The append-only event log. Contract: ../shared/DESIGN.md "The event log".
CREATE TABLE events (
    position    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- The writing transaction: followers read below the snapshot xmin by (tx_id, position),
    -- because identity values are allocated before commit and commit out of order.
    tx_id       xid8        NOT NULL DEFAULT pg_current_xact_id(),
    stream_id   text        NOT NULL CHECK (stream_id <> ''),
    version     integer     NOT NULL CHECK (version > 0),
    type        text        NOT NULL,
    -- The exact msgspec JSON bytes; jsonb would reorder keys and break the hash.
    data        bytea       NOT NULL,
    metadata    jsonb       NOT NULL DEFAULT '{}'::jsonb,
    recorded_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    hash        bytea       NOT NULL,
    -- Optimistic concurrency is this constraint and nothing else.
    CONSTRAINT events_stream_version UNIQUE (stream_id, version)
);

CREATE INDEX events_cursor ON events (tx_id, position);

-- Append-only, enforced by the database itself.
CREATE FUNCTION events_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER events_no_update_delete BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION events_refuse_change();
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_refuse_change();
-- ALWAYS: session_replication_role = replica must not switch them off.
ALTER TABLE events ENABLE ALWAYS TRIGGER events_no_update_delete;
ALTER TABLE events ENABLE ALWAYS TRIGGER events_no_truncate;

-- Followers LISTEN on this channel; a lost notification only delays them (they also poll).
CREATE FUNCTION events_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('ledger_events', '');
    RETURN NULL;
END
$$;
CREATE TRIGGER events_notify AFTER INSERT ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_notify();
ALTER TABLE events ENABLE ALWAYS TRIGGER events_notify;

-- The link hash of one event. Fields are length-prefixed so that no two different
-- (stream_id, type) splits of the same bytes can collide; ledger/seals.py computes the same.
CREATE FUNCTION event_hash(prev bytea, p_stream text, p_version integer, p_type text, p_data bytea)
RETURNS bytea LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT sha256(
        prev
        || int4send(octet_length(convert_to(p_stream, 'UTF8'))) || convert_to(p_stream, 'UTF8')
        || int8send(p_version::bigint)
        || int4send(octet_length(convert_to(p_type, 'UTF8'))) || convert_to(p_type, 'UTF8')
        || p_data)
$$;

-- One round trip per append: read the stream head's hash, chain and insert every event.
-- A stale expected version either finds no head (raises LD001) or collides on
-- events_stream_version (unique_violation); both surface as ConcurrencyConflict.
CREATE FUNCTION append_events(
    p_stream text, p_expected integer, p_types text[], p_data bytea[], p_metadata jsonb[]
) RETURNS TABLE (out_position bigint, out_version integer) LANGUAGE plpgsql AS $$
DECLARE
    prev bytea := '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea;
    v integer := p_expected;
    i integer;
BEGIN
    IF p_expected > 0 THEN
        SELECT e.hash INTO prev FROM events e WHERE e.stream_id = p_stream AND e.version = p_expected;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'stream % has no version %', p_stream, p_expected USING ERRCODE = 'LD001';
        END IF;
    END IF;
    FOR i IN 1 .. coalesce(array_length(p_types, 1), 0) LOOP
        v := v + 1;
        prev := event_hash(prev, p_stream, v, p_types[i], p_data[i]);
        INSERT INTO events (stream_id, version, type, data, metadata, hash)
        VALUES (p_stream, v, p_types[i], p_data[i], p_metadata[i], prev)
        RETURNING position INTO out_position;
        out_version := v;
        RETURN NEXT;
    END LOOP;
END
$$;

CREATE TABLE ledger_seals (
    seal_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    upto_tx_id   xid8        NOT NULL,
    upto_position bigint     NOT NULL,
    event_count  bigint      NOT NULL,
    digest       bytea       NOT NULL,
    prev_digest  bytea       NOT NULL,
    sealed_at    timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE TRIGGER ledger_seals_no_update_delete BEFORE UPDATE OR DELETE ON ledger_seals
    FOR EACH ROW EXECUTE FUNCTION events_refuse_change();
CREATE TRIGGER ledger_seals_no_truncate BEFORE TRUNCATE ON ledger_seals
    FOR EACH STATEMENT EXECUTE FUNCTION events_refuse_change();
ALTER TABLE ledger_seals ENABLE ALWAYS TRIGGER ledger_seals_no_update_delete;
ALTER TABLE ledger_seals ENABLE ALWAYS TRIGGER ledger_seals_no_truncate;
