"""Bulk CSV orders: `parsing` (pure: bytes in, rows, errors, keys and batch id out) and
`batches` (the batch use case, which records orders through `ledger.orders.intake`).

May import `ledger.log`, `ledger.orders` and the cross-cutting modules.
"""
