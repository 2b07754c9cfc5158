"""Reconciliation: paged runs against a vendor's transaction listing (`runs`), their window,
the recording of a page (`record`) with safe corrections (`corrections`, pure), human
resolutions, vendor CSV files (`file_format` pure, `files` the import), run progress and the
nightly schedule.

May import `ledger.log`, `ledger.orders`, `ledger.vendors` and the cross-cutting modules.
"""
