"""Every malformed request gets a precise 4xx naming the field, and writes nothing."""

from ledger.http.keys import POOL
from tests.harness import order_body, sandbox_stats

GOOD = order_body("bad-input-ok-1")
CASES = [
    # (description, body bytes or dict, extra headers, status, code, field)
    ("malformed JSON", b'{"customer_id": "c",', {}, 400, "malformed_json", "body"),
    ("a JSON array", b"[1, 2]", {}, 422, "invalid_field", None),
    ("a wrong type", {**GOOD, "customer_id": 7}, {}, 422, "invalid_field", "customer_id"),
    ("an unknown field", {**GOOD, "colour": "red"}, {}, 422, "invalid_field", "colour"),
    (
        "a missing field",
        {k: v for k, v in GOOD.items() if k != "brand_id"},
        {},
        422,
        "invalid_field",
        "brand_id",
    ),
    ("too many decimals", {**GOOD, "amount": "25.001"}, {}, 422, "invalid_amount", "amount"),
    (
        "decimals on JPY",
        {**GOOD, "amount": "25.5", "currency": "JPY"},
        {},
        422,
        "invalid_amount",
        "amount",
    ),
    ("a float-looking number", {**GOOD, "amount": 0.1 + 0.2}, {}, 422, "invalid_amount", "amount"),
    ("a negative amount", {**GOOD, "amount": "-5"}, {}, 422, "invalid_amount", "amount"),
    ("a zero amount", {**GOOD, "amount": 0}, {}, 422, "invalid_amount", "amount"),
    (
        "an amount above the maximum",
        {**GOOD, "amount": "99999999999"},
        {},
        422,
        "invalid_amount",
        "amount",
    ),
    (
        "an amount that is an object",
        {**GOOD, "amount": {"value": 1}},
        {},
        422,
        "invalid_amount",
        "amount",
    ),
    # A regex's `$` also matches before a final newline: each of these once passed its pattern.
    (
        "a newline after an id",
        {**GOOD, "customer_id": "c-1\n"},
        {},
        422,
        "invalid_field",
        "customer_id",
    ),
    (
        "a newline after a brand",
        {**GOOD, "brand_id": "amazon-us\n"},
        {},
        422,
        "invalid_field",
        "brand_id",
    ),
    (
        "a newline after a currency",
        {**GOOD, "currency": "USD\n"},
        {},
        422,
        "invalid_field",
        "currency",
    ),
    (
        "a newline after a body key",
        order_body("bad-input-key-1\n"),
        {},
        400,
        "invalid_idempotency_key",
        "idempotency_key",
    ),
    ("an unknown currency", {**GOOD, "currency": "XYZ"}, {}, 422, "invalid_currency", "currency"),
    ("a lower-case currency", {**GOOD, "currency": "usd"}, {}, 422, "invalid_field", "currency"),
    ("no idempotency key", order_body(), {}, 400, "missing_idempotency_key", "idempotency_key"),
    ("a short key", order_body("short"), {}, 400, "invalid_idempotency_key", "idempotency_key"),
    (
        "a key with a control character",
        order_body("bad\x01key-123"),
        {},
        400,
        "invalid_idempotency_key",
        "idempotency_key",
    ),
    (
        "header and body keys that differ",
        GOOD,
        {"Idempotency-Key": "another-key-1"},
        400,
        "idempotency_key_mismatch",
        "idempotency_key",
    ),
    (
        "an oversized body",
        {**GOOD, "customer_id": "x" * 70_000},
        {},
        413,
        "request_entity_too_large",
        None,
    ),
    (
        "a form body",
        b"customer_id=c",
        {"Content-Type": "application/x-www-form-urlencoded"},
        415,
        "unsupported_media_type",
        "Content-Type",
    ),
]


async def test_each_kind_of_bad_input_gets_a_precise_problem_and_writes_nothing(running):
    client, headers, url = running
    for description, body, extra, status, code, field in CASES:
        kwargs = {"data": body} if isinstance(body, bytes) else {"json": body}
        request_headers = {**headers, **extra}
        if isinstance(body, bytes) and "Content-Type" not in extra:
            request_headers["Content-Type"] = "application/json"
        response = await client.post("/api/v1/orders", headers=request_headers, **kwargs)
        problem = await response.json()
        assert response.status == status, (description, problem)
        assert response.content_type == "application/problem+json", description
        assert problem["code"] == code, (description, problem)
        assert problem.get("field") == field, (description, problem)
        assert problem["detail"], description
    assert await client.app[POOL].fetchval("SELECT count(*) FROM events") == 0
    assert (await sandbox_stats(url))["orders"] == 0


async def test_requests_without_a_valid_api_key_are_refused(running):
    client, _, _ = running
    missing = await client.post("/api/v1/orders", json=GOOD)
    wrong = await client.post("/api/v1/orders", json=GOOD, headers={"Authorization": "Bearer nope"})
    assert (missing.status, wrong.status) == (401, 401)
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    assert await client.app[POOL].fetchval("SELECT count(*) FROM events") == 0
