"""The write side: commands in, events appended, vendors called.

Layers, top to bottom (a module imports only from its own layer or below; `tests/unit/
test_layout.py` enforces it):

- `cli/`, `http/`, `console/`: the edges people and programs call;
- `orders/`, `webhooks/`, `reconciliation/`, `bulk/`, `gl/`: use cases;
- `vendors/`: adapters to the vendors and the sandbox vendor;
- `log/`: the event catalog and the append-only log;
- `config`, `db`, `money`, `auth`, `logs`, `metrics`: cross-cutting, import nothing above.

Read models live in `projections/`; below the edges, ledger code reaches one only through the
small query functions its package exports (`projections.gl`), never its tables or folds.
"""
