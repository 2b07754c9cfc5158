-- A NOTIFY inside the appending transaction makes PostgreSQL serialise every such commit behind
-- one cluster-wide lock held until its WAL flush, so concurrent appends could not share a flush
-- (bench/ledger.py: 8 writers at 40% of plain INSERTs with it, 64% without). Notifications now
-- come from ledger/notifier.py: one per burst of appends, on a connection of its own.
DROP TRIGGER events_notify ON events;
DROP FUNCTION events_notify();
