"""The reconciliation read model: discrepancies and runs. `matching` is pure (vendor records
against our orders), `tables` its rows, `projection` the fold over the log, `http` the finance
read routes, `views` how the API and the merchant webhooks show a row.
"""

from projections.base import schema_fingerprint
from projections.discrepancies.projection import ReconciliationProjection
from projections.discrepancies.views import discrepancy_view, run_view

# The shape of the tables this code reads: the live ones have it once a rebuild swapped them in.
SHAPE = schema_fingerprint(ReconciliationProjection())

__all__ = ["SHAPE", "discrepancy_view", "run_view"]
