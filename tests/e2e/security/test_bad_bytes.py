"""Malformed bytes anywhere in a request are a 4xx problem naming the field, never a 500
(issue 13, finding 5)."""

from __future__ import annotations

import asyncio
import json

import pytest


async def test_invalid_utf8_inside_a_json_string_is_a_400_naming_the_body(running):
    client, writer, _ = running
    body = b'{"customer_id": "c\xff\xfe", "brand_id": "b", "amount": "1.00", "currency": "USD"}'
    response = await client.post(
        "/api/v1/orders",
        data=body,
        headers=writer | {"Idempotency-Key": "bad-bytes-1", "Content-Type": "application/json"},
    )
    problem = await response.json(content_type=None)
    assert response.status == 400, problem
    assert problem["field"] == "body"


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/api/v1/orders/%00%00%00%00%00%00%00%00", "idempotency_key"),
        ("/api/v1/orders/%00%00%00%00%00%00%00%00/events", "idempotency_key"),
        ("/api/v1/reconciliations/%00", "run_id"),
        ("/api/v1/bulk-orders/%00", "batch_id"),
    ],
)
async def test_control_or_broken_bytes_in_a_path_are_a_400_naming_the_parameter(
    running, admin, path, field
):
    client, _, _ = running
    response = await client.get(path, headers=admin)
    problem = await response.json(content_type=None)
    assert response.status == 400, problem
    assert problem["field"] == field


@pytest.mark.parametrize(
    "query",
    ["state=%00", "after=%ff%fe", "from=%00"],
)
async def test_control_or_broken_bytes_in_a_query_are_a_400(running, admin, query):
    client, _, _ = running
    response = await client.get(f"/api/v1/discrepancies?{query}", headers=admin)
    assert response.status == 400, await response.text()


async def test_bytes_that_are_not_utf8_in_a_path_stay_literal_text_and_find_nothing(running):
    """yarl leaves an undecodable %FF as the text "%FF": a key like any other, not found."""
    client, writer, _ = running
    response = await client.get("/api/v1/orders/%ff%fe%fd%fc%fb%fa%f9%f8", headers=writer)
    assert response.status == 404 and (await response.json())["field"] == "idempotency_key"


async def _raw(client, head: bytes, body: bytes = b"") -> tuple[int, dict, bytes]:
    """Send a request byte for byte (aiohttp's client refuses to send control characters)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", client.port)
    writer.write(head + b"\r\n" + body)
    await writer.drain()
    raw = await reader.read()
    writer.close()
    status_line, _, rest = raw.partition(b"\r\n")
    headers_blob, _, payload = rest.partition(b"\r\n\r\n")
    headers = dict(
        line.decode("latin-1").split(": ", 1) for line in headers_blob.split(b"\r\n") if line
    )
    return int(status_line.split()[1]), headers, payload


@pytest.mark.parametrize(
    ("line", "field"),
    [
        (b"Idempotency-Key: key-\x7fwith-del", "Idempotency-Key"),
        (b"Authorization: Bearer \x00secret", "Authorization"),
        (b"X\x01Name: value", "headers"),
        (b"Content-Length: abc", "Content-Length"),
    ],
)
async def test_a_header_the_http_parser_refuses_is_a_400_problem_naming_it(running, line, field):
    """aiohttp's parser refuses these before any middleware; the server's request handler
    answers them in the same problem+json shape, without repeating the value."""
    client, _, _ = running
    head = b"GET /api/v1/orders/abcdefgh HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
    status, headers, payload = await _raw(client, head + line + b"\r\n")
    assert status == 400 and headers["Content-Type"].startswith("application/problem+json")
    problem = json.loads(payload)
    assert problem["field"] == field and problem["code"] == "malformed_request", problem
    assert b"secret" not in payload


@pytest.mark.parametrize(
    ("header", "field"),
    [
        (b"Idempotency-Key: key-\xff\xfe-latin", "Idempotency-Key"),
        (b"X-Request-Id: \xff\x02", None),
    ],
)
async def test_control_or_broken_bytes_in_a_header_get_a_4xx_problem(running, header, field):
    client, writer, _ = running
    body = b'{"customer_id": "c", "brand_id": "b", "amount": "1.00", "currency": "USD"}'
    head = (
        b"POST /api/v1/orders HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        + f"Authorization: {writer['Authorization']}\r\n".encode()
        + b"Content-Type: application/json\r\n"
        + f"Content-Length: {len(body)}\r\n".encode()
        + header
        + b"\r\n"
    )
    status, headers, payload = await _raw(client, head, body)
    assert 400 <= status < 500, payload
    if field is None:  # a bad request id is replaced, not refused
        assert status != 500
        return
    assert headers["Content-Type"].startswith("application/problem+json"), payload
    assert json.loads(payload)["field"] == field


async def test_a_nul_escaped_inside_a_json_string_is_a_400_not_a_stored_poison(running, admin):
    client, _, _ = running
    response = await client.post(
        "/api/v1/discrepancies/d_0/resolve",
        data=b'{"action": "acknowledge", "note": "ok\\u0000"}',
        headers=admin | {"Content-Type": "application/json"},
    )
    problem = await response.json()
    assert response.status == 400 and problem["field"] == "body", problem


async def test_a_vendor_webhook_with_undecodable_header_bytes_is_answered_not_a_500(running):
    """aiohttp reads such bytes as lone surrogates: the inbox row keeping the headers must
    still be written, and the refusal answered as any other."""
    client, _, _ = running
    body = b'{"event": "order.fulfilled"}'
    head = (
        b"POST /webhooks/sandbox HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        b"Content-Type: application/json\r\n"
        + f"Content-Length: {len(body)}\r\n".encode()
        + b"X-Forwarded-Note: ab\xffcd\r\n"
    )
    status, headers, payload = await _raw(client, head, body)
    assert status == 401 and headers["Content-Type"].startswith("application/problem+json"), (
        status,
        payload,
    )
