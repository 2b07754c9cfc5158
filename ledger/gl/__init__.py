"""The general ledger's write side: closing business days (`GLDayClosed`) by hand or on a
schedule. The figures come from the GL read model through `projections.gl`'s exported query
functions.

May import `ledger.log`, `projections.gl` (its package surface only) and the cross-cutting
modules.
"""
