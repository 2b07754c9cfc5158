"""`run.py` commands, one module per command group; `run.py` only calls `main`.

The top layer: may import anything in `ledger/` and `projections/`.
"""
