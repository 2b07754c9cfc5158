"""Orders: the pure order model (decide and fold), intake under a per-order lease, fulfilment
(vendor attempts journaled before and after each call), the completer that finishes pending
orders, and the card vault (AES-GCM encrypted card secrets).

May import `ledger.log`, `ledger.vendors` and the cross-cutting modules. `model` is pure.
"""
