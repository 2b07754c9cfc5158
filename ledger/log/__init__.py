"""The event log: the catalog of events (one msgspec union), the append-only store with its
hash chain, seals and verification, the notifier and per-process wake-ups, followers that read
the log under a lease, and the advisory-lock leases themselves.

Imports only the cross-cutting modules (`ledger.config`, `ledger.db`, `ledger.metrics`, ...):
everything else builds on the log, never the other way round.
"""
