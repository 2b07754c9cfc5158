"""The reconciliation read model: discrepancies and runs. `matching` is pure (vendor records
against our orders), `tables` its rows, `projection` the fold over the log, `http` the finance
read routes.
"""
