"""Vendors: the adapter protocol and outcome types (`base`), the retrying client with its
circuit breaker, the rate limiter, the registry that builds clients from configuration, the
REST dialect, and the sandbox vendor (`sandbox/`).

May import the cross-cutting modules and `ledger.webhooks.signatures` (pure) for the
sandbox's signed webhooks; nothing from orders, the log or the edges.
"""
