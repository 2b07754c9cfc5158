-- An append answers with each event's recording time as well as its position and version
-- (issue 15): the writer then folds what it appended into the state it already holds, instead
-- of reading its stream back after every append. The time is the one the stamp trigger set.
-- A caller reading only the old columns (a node of the previous version, during a rolling
-- upgrade) is unaffected; the return type changes, so the function is dropped and made anew.
DROP FUNCTION append_events(text, integer, text[], bytea[], jsonb[]);
CREATE FUNCTION append_events(
    p_stream text, p_expected integer, p_types text[], p_data bytea[], p_metadata jsonb[]
) RETURNS TABLE (out_position bigint, out_version integer, out_recorded_at timestamptz)
LANGUAGE plpgsql
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
        RETURNING position, recorded_at INTO out_position, out_recorded_at;
        out_version := v;
        RETURN NEXT;
    END LOOP;
END
$$;
