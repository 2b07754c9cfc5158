-- The stamp and the owner check at half the cost (issue 15), same rules, same bytes.
--
-- pg_stat_statements on a private cluster put the INSERT into events at 0.19 ms, ten times a
-- plain INSERT, and an append_events call at 87 us of executor time. Two SQL functions were
-- most of it: PostgreSQL plans a LANGUAGE sql function's body again on every call it cannot
-- inline, and it inlined neither. event_hash carried a SET clause (0008) and is IMMUTABLE over
-- convert_to(), which is only STABLE; order_stream_spells_owner has a FROM clause. One at a
-- time: the owner check in PL/pgSQL, whose plan is kept for the session, 87 -> 70 us; event_hash
-- inlined as well, 70 -> 40 us. bench/append_cost.py measures it; docs/benchmarks.md has the
-- figures.

-- Inlined into events_stamp, whose pinned search path (0008) then resolves sha256(), the
-- operators and convert_to() as before: the guard 0008 gave it holds where the log's hash is
-- computed. STABLE is what its body is. Called on its own (bench/synthetic.py, tests) it uses
-- the caller's path, as any function of the caller's would.
CREATE OR REPLACE FUNCTION event_hash(
    prev bytea, p_stream text, p_version integer, p_type text, p_data bytea
) RETURNS bytea LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT sha256(
        prev
        || int4send(octet_length(convert_to(p_stream, 'UTF8'))) || convert_to(p_stream, 'UTF8')
        || int8send(p_version::bigint)
        || int4send(octet_length(convert_to(p_type, 'UTF8'))) || convert_to(p_type, 'UTF8')
        || p_data)
$$;

-- The same check as 0007's, the payload still parsed once; the events_order_stream_owner
-- constraint names the function, so it checks every new order with this body from now on.
CREATE OR REPLACE FUNCTION order_stream_spells_owner(p_stream text, p_data bytea)
RETURNS boolean LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog AS $$
DECLARE
    d jsonb := convert_from(p_data, 'UTF8')::jsonb;
BEGIN
    RETURN coalesce(d ->> 'client_id', '') ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'
           AND p_stream IS NOT DISTINCT FROM
               'order:' || (d ->> 'client_id') || ':' || (d ->> 'idempotency_key');
END
$$;
