"""Bulk CSV orders over HTTP: upload, validation answers, limits, progress, and replays."""

import aiohttp
import pytest

from ledger.auth import create_key
from ledger.http.keys import POOL
from tests.harness import sandbox, sandbox_stats, service, service_settings

HEADER = "customer_id,brand_id,amount,currency"


def csv_file(rows: int, *, bad: dict[int, str] | None = None) -> bytes:
    """`rows` order rows; bad maps a 0-based row index to a replacement line."""
    lines = [HEADER]
    for i in range(rows):
        lines.append((bad or {}).get(i, f"cust-{i:05d},amazon-us,{1 + i % 50}.00,USD"))
    return ("\r\n".join(lines) + "\r\n").encode()


def as_csv(headers: dict) -> dict:
    return {**headers, "Content-Type": "text/csv"}


@pytest.fixture
async def running(database_url, tmp_path):
    async with sandbox() as (url, _):
        settings = service_settings(url, tmp_path, bulk_max_bytes=64 * 1024, bulk_max_rows=500)
        async with service(database_url, settings) as (client, headers):
            yield client, headers, url


async def counts(client) -> tuple[int, int]:
    pool = client.app[POOL]
    batches = await pool.fetchval("SELECT count(*) FROM events WHERE type = 'BulkBatchAccepted'")
    orders = await pool.fetchval("SELECT count(*) FROM events WHERE type = 'OrderRequested'")
    return batches, orders


async def test_a_file_with_bad_rows_is_refused_whole_naming_every_bad_row(running):
    client, headers, url = running
    bad = {1: "cust-1,amazon-us,12.345,USD", 4: ",amazon-us,5.00,usd", 6: "cust-6,amazon-us,0,USD"}
    response = await client.post(
        "/api/v1/bulk-orders", data=csv_file(8, bad=bad), headers=as_csv(headers)
    )
    body = await response.json()
    assert response.status == 422 and response.content_type == "application/problem+json"
    assert body["code"] == "invalid_rows" and body["rows"] == 8
    assert [(e["row"], e["column"]) for e in body["errors"]] == [
        (3, "amount"),
        (6, "customer_id"),
        (6, "currency"),
        (8, "amount"),
    ]
    assert all(e["reason"] for e in body["errors"])
    assert "partial=true" in body["detail"]
    assert await counts(client) == (0, 0)
    assert (await sandbox_stats(url))["orders"] == 0


async def test_partial_true_orders_the_valid_rows_and_lists_the_skipped_ones(running):
    client, headers, _ = running
    data = csv_file(5, bad={2: "cust-2,amazon-us,abc,USD"})
    response = await client.post(
        "/api/v1/bulk-orders?partial=true", data=data, headers=as_csv(headers)
    )
    body = await response.json()
    assert response.status == 202, body
    assert (body["rows"], body["accepted_rows"], body["created"]) == (5, 4, 4)
    assert [(e["row"], e["column"]) for e in body["errors"]] == [(4, "amount")]
    assert body["status_url"] == f"/api/v1/bulk-orders/{body['batch_id']}"
    assert await counts(client) == (1, 4)


async def test_a_multipart_upload_is_the_same_batch_as_the_raw_body(running):
    client, headers, _ = running
    form = aiohttp.FormData()
    form.add_field("file", csv_file(3), filename="week-12.csv", content_type="text/csv")
    first = await client.post("/api/v1/bulk-orders", data=form, headers=headers)
    again = await client.post("/api/v1/bulk-orders", data=csv_file(3), headers=as_csv(headers))
    assert first.status == 202 and again.status == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert (await first.json())["batch_id"] == (await again.json())["batch_id"]
    assert (await again.json())["created"] == 0


async def test_a_multipart_upload_without_a_file_field_is_a_400(running):
    client, headers, _ = running
    form = aiohttp.FormData()
    form.add_field("document", csv_file(1), filename="x.csv", content_type="text/csv")
    response = await client.post("/api/v1/bulk-orders", data=form, headers=headers)
    assert response.status == 400 and (await response.json())["code"] == "missing_file"


async def test_a_file_over_the_byte_limit_is_a_413_naming_the_limit(running):
    client, headers, _ = running
    response = await client.post(
        "/api/v1/bulk-orders", data=b"x" * (64 * 1024 + 1), headers=as_csv(headers)
    )
    body = await response.json()
    assert response.status == 413 and body["code"] == "file_too_large"
    assert body["limit_bytes"] == 64 * 1024 and "BULK_MAX_BYTES" in body["detail"]


async def test_a_chunked_upload_is_cut_off_at_the_byte_limit_too(running):
    client, headers, _ = running

    async def chunks():
        for _ in range(100):
            yield b"y" * 1024

    response = await client.post("/api/v1/bulk-orders", data=chunks(), headers=as_csv(headers))
    assert response.status == 413 and (await response.json())["code"] == "file_too_large"


async def test_a_file_over_the_row_limit_is_a_413_and_records_nothing(running):
    client, headers, _ = running
    response = await client.post("/api/v1/bulk-orders", data=csv_file(501), headers=as_csv(headers))
    body = await response.json()
    assert response.status == 413 and body["code"] == "too_many_rows"
    assert "500" in body["detail"]
    assert await counts(client) == (0, 0)


@pytest.mark.parametrize(
    ("path", "content_type", "status", "code"),
    [
        ("/api/v1/bulk-orders", "application/json", 415, "unsupported_media_type"),
        ("/api/v1/bulk-orders?partial=yes", "text/csv", 400, "invalid_parameter"),
    ],
)
async def test_requests_the_route_cannot_take_are_refused_precisely(
    running, path, content_type, status, code
):
    client, headers, _ = running
    response = await client.post(
        path, data=csv_file(1), headers={**headers, "Content-Type": content_type}
    )
    assert response.status == status and (await response.json())["code"] == code


async def test_uploading_needs_an_orders_write_key(running):
    client, _, _ = running
    response = await client.post(
        "/api/v1/bulk-orders", data=csv_file(1), headers={"Content-Type": "text/csv"}
    )
    assert response.status == 401


async def test_progress_is_shown_to_the_batchs_client_and_nobody_else(running):
    client, headers, _ = running
    body = await (
        await client.post("/api/v1/bulk-orders", data=csv_file(3), headers=as_csv(headers))
    ).json()
    async with client.app[POOL].acquire() as conn:
        _, other = await create_key(conn, name="globex", scopes=["orders:write"])
    theirs = await client.get(body["status_url"], headers={"Authorization": f"Bearer {other}"})
    assert theirs.status == 404 and (await theirs.json())["code"] == "batch_not_found"
    ours = await (await client.get(body["status_url"], headers=headers)).json()
    assert ours["batch_id"] == body["batch_id"] and ours["accepted_rows"] == 3
    assert set(ours["counts"]) == {"pending", "fulfilled", "failed", "refunded"}
    unknown = await client.get("/api/v1/bulk-orders/bat_nothing", headers=headers)
    assert unknown.status == 404


@pytest.fixture
async def one_brand_shop(database_url, tmp_path):
    """A service whose only vendor sells amazon-us and nothing else."""
    async with sandbox() as (url, _):
        vendors = tmp_path / "vendors.toml"
        vendors.write_text(f'[vendors.shop]\nbase_url = "{url}"\n\n[vendors.shop.brands]\n'
                           'amazon-us = "AMZ"\n')  # fmt: skip
        settings = service_settings("", tmp_path, vendors_file=vendors, default_vendor="shop")
        async with service(database_url, settings) as (client, headers):
            yield client, headers


async def test_a_brand_no_vendor_sells_refuses_the_whole_file_before_anything_is_written(
    one_brand_shop,
):
    """Corrected and uploaded again whole, a file half ordered would order its other rows a
    second time (new bytes, new keys): a brand nobody sells is a bad row like any other."""
    client, headers = one_brand_shop
    typo = csv_file(3, bad={1: "cust-1,amazon-uss,5.00,USD"})
    refused = await client.post("/api/v1/bulk-orders", data=typo, headers=as_csv(headers))
    body = await refused.json()
    assert refused.status == 422 and body["code"] == "invalid_rows", body
    assert [(e["row"], e["column"]) for e in body["errors"]] == [(3, "brand_id")]
    assert "amazon-uss" in body["errors"][0]["reason"]
    assert await counts(client) == (0, 0)

    fixed = await client.post("/api/v1/bulk-orders", data=csv_file(3), headers=as_csv(headers))
    assert fixed.status == 202 and (await fixed.json())["created"] == 3
    assert await counts(client) == (1, 3), "each row ordered once"


async def test_partial_true_leaves_out_a_row_whose_brand_no_vendor_sells(one_brand_shop):
    client, headers = one_brand_shop
    typo = csv_file(3, bad={1: "cust-1,amazon-uss,5.00,USD"})
    response = await client.post(
        "/api/v1/bulk-orders?partial=true", data=typo, headers=as_csv(headers)
    )
    body = await response.json()
    assert response.status == 202, body
    assert (body["rows"], body["accepted_rows"], body["created"]) == (3, 2, 2)
    assert [(e["row"], e["column"]) for e in body["errors"]] == [(3, "brand_id")]
    assert body["refused"] == []
    progress = await (await client.get(body["status_url"], headers=headers)).json()
    assert progress["accepted_rows"] == 2


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("multipart/form-data", b"x"),  # no boundary
        ("multipart/form-data; boundary=abc", b"not a multipart body"),
    ],
)
async def test_a_malformed_multipart_body_is_a_400_not_a_500(running, content_type, body):
    client, headers, _ = running
    response = await client.post(
        "/api/v1/bulk-orders", data=body, headers={**headers, "Content-Type": content_type}
    )
    problem = await response.json()
    assert response.status == 400 and problem["code"] == "invalid_multipart", problem
    assert problem["field"] == "Content-Type" or problem["field"] == "body"
    assert await counts(client) == (0, 0)


async def test_a_file_with_many_bad_rows_reports_the_first_thousand_and_counts_them_all(running):
    client, headers, _ = running
    data = (HEADER + "\n" + ",,oops,\n" * 400).encode()  # three empty cells a row
    response = await client.post("/api/v1/bulk-orders", data=data, headers=as_csv(headers))
    body = await response.json()
    assert response.status == 422 and body["error_count"] == 1200
    assert len(body["errors"]) == 1000 and body["errors"][0]["row"] == 2
