"""The sandbox vendor: a real HTTP gift card API (`server`) over an in-memory store
(`store`), with seeded fault injection (`faults`) and signed, retried webhooks (`webhooks`).

May import `ledger.vendors` (base, rest) and `ledger.webhooks.signatures`.
"""
