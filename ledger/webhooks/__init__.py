"""Vendor webhooks: signature schemes (pure, clock passed in), the inbox that turns a verified
webhook into an event, and the confirmer that asks the vendor before believing one.

May import `ledger.log`, `ledger.orders`, `ledger.vendors` and the cross-cutting modules.
"""
