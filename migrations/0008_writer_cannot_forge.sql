-- A writer cannot forge what the log says about itself (issue 13): whatever an INSERT names,
-- the database sets the transaction id (followers read by it: an old one would be sealed but
-- never projected), the recording time and the hash linking the event to its stream's
-- previous one.
-- The search path is pinned (pg_catalog first, temporary objects last) and names are
-- qualified: a writer that may create objects cannot shadow clock_timestamp(), sha256() or
-- the events table for this function.
CREATE FUNCTION events_stamp() RETURNS trigger LANGUAGE plpgsql
SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    prev bytea := '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea;
BEGIN
    -- The type column is what followers filter on and the payload's tag is what they decode:
    -- they must agree (msgspec writes the tag first), or an order could pass as another type.
    IF position(convert_to('{"type":"' || NEW.type || '"', 'UTF8') IN NEW.data) <> 1 THEN
        RAISE EXCEPTION 'event type % does not match its payload', NEW.type
            USING ERRCODE = 'check_violation';
    END IF;
    IF NEW.version > 1 THEN
        SELECT e.hash INTO prev FROM public.events e
        WHERE e.stream_id = NEW.stream_id AND e.version = NEW.version - 1;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'stream % has no version %', NEW.stream_id, NEW.version - 1
                USING ERRCODE = 'LD001';
        END IF;
    END IF;
    NEW.tx_id := pg_current_xact_id();
    NEW.recorded_at := clock_timestamp();
    NEW.hash := public.event_hash(prev, NEW.stream_id, NEW.version, NEW.type, NEW.data);
    RETURN NEW;
END
$$;
CREATE TRIGGER events_stamp BEFORE INSERT ON events
    FOR EACH ROW EXECUTE FUNCTION events_stamp();
-- ALWAYS: session_replication_role = replica must not switch it off.
ALTER TABLE events ENABLE ALWAYS TRIGGER events_stamp;

-- append_events no longer chains nor reads the head: the trigger does both, for every writer
-- alike. A stale expected version is LD001 (the first event's predecessor is missing) or a
-- unique violation (it is already taken), as before; callers never send an empty batch.
CREATE OR REPLACE FUNCTION append_events(
    p_stream text, p_expected integer, p_types text[], p_data bytea[], p_metadata jsonb[]
) RETURNS TABLE (out_position bigint, out_version integer) LANGUAGE plpgsql
SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    v integer := p_expected;
    i integer;
BEGIN
    FOR i IN 1 .. coalesce(array_length(p_types, 1), 0) LOOP
        v := v + 1;
        -- hash is set by events_stamp; NOT NULL needs a value to start from.
        INSERT INTO public.events (stream_id, version, type, data, metadata, hash)
        VALUES (p_stream, v, p_types[i], p_data[i], p_metadata[i], ''::bytea)
        RETURNING position INTO out_position;
        out_version := v;
        RETURN NEXT;
    END LOOP;
END
$$;

ALTER FUNCTION event_hash(bytea, text, integer, text, bytea)
    SET search_path = pg_catalog, public, pg_temp;
