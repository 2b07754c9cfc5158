"""The reconciliation read model: discrepancies and runs. `matching` is pure (vendor records
against our orders), `tables` its rows, `projection` the fold over the log, `http` the finance
read routes, `views` how the API and the merchant webhooks show a row.
"""

from projections.discrepancies.views import discrepancy_view, run_view

__all__ = ["discrepancy_view", "run_view"]
