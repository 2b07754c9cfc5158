"""Thin HTTP handlers per capability: parse, authorize, call one use case, answer.

May import `ledger.http` (keys, auth, problems, params, schemas) and the use cases.
"""
