"""The read side: the engine (`base` folds and tables, `checkpoints`, `runner`, `rebuild`,
`registry`) and the read models (`orders`, `discrepancies/`, `gl/`), each holding its pure
fold, its tables and its read routes.

Read models may import `ledger.log`, `ledger.orders.model`, `ledger.money`, `ledger.config` and
(for their routes) `ledger.http`'s keys, auth, params and problems. The engine imports no
read model except in `registry`, which lists them.
"""
