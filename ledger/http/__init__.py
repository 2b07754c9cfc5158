"""The HTTP edge: app factory, typed app keys, the one error middleware, problem+json,
authorization, query parameter parsing, request and response schemas, OpenAPI; the write and
operations routes are in `routes/`.

The top layer: may import anything in `ledger/`, and `projections` engine modules and read
model routes for wiring the app.
"""
