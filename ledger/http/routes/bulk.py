"""Bulk order routes: a CSV file in, a batch of ordinary orders out (ledger.bulk.batches).

The whole file is read (up to BULK_MAX_BYTES), validated, and every accepted row recorded
before the answer: a 202 means each row is durably an order, pending for the completer, so a
client that gets one never needs to upload again, and one that does not can upload again safely.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import msgspec
from aiohttp import BodyPartReader, StreamReader, web

from ledger.bulk.batches import BatchOutcome, batch_progress, route_rows, submit_batch
from ledger.bulk.parsing import BulkLimitExceeded, RowError, parse_file
from ledger.http.auth import authorize
from ledger.http.keys import INTAKE, POOL, REQUEST_ID, ROUTER, SETTINGS
from ledger.http.params import choice
from ledger.http.problems import Problem

routes = web.RouteTableDef()
_CSV_TYPES = frozenset({"text/csv", "application/csv"})
# Read size per chunk: large enough to be few awaits per file, small enough that a body over
# the limit is refused after at most this much past it.
_CHUNK = 64 * 1024
_encoder = msgspec.json.Encoder()
# An answer lists this many bad rows at most (error_count counts them all): a file at the byte
# limit can hold millions of problems, and an answer that big helps nobody fix a file.
MAX_REPORTED_ERRORS = 1000


class BulkUploaded(BatchOutcome, frozen=True):
    # Bad rows left out of a partial=true upload (empty otherwise: such a file is a 422), the
    # first MAX_REPORTED_ERRORS of error_count.
    errors: tuple[RowError, ...] = ()
    error_count: int = 0
    status_url: str = ""


def _too_large(limit: int) -> Problem:
    detail = f"the file is larger than {limit:,} bytes (BULK_MAX_BYTES); split it"
    return Problem(413, "file_too_large", detail, extra={"limit_bytes": limit})


async def _read_limited(read_chunk, limit: int) -> bytes:
    parts, size = [], 0
    while chunk := await read_chunk(_CHUNK):
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        parts.append(chunk)
    return b"".join(parts)


async def _file_bytes(request: web.Request, limit: int) -> bytes:
    """The CSV from a text/csv body or a multipart form's `file` field, never over `limit`.

    The app-wide client_max_size is sized for JSON orders; reading the stream ourselves lets
    this route alone take files, and stop reading as soon as one is over the bulk limit.
    """
    if request.content_length is not None and request.content_length > limit:
        raise _too_large(limit)
    if request.content_type in _CSV_TYPES:
        content: StreamReader = request.content
        return await _read_limited(content.read, limit)
    if request.content_type == "multipart/form-data":
        try:
            async for part in await request.multipart():
                if isinstance(part, BodyPartReader) and part.name == "file":
                    return await _read_limited(part.read_chunk, limit)
        except ValueError as exc:  # aiohttp's word for a missing or unmatched boundary
            detail = f"the multipart body cannot be read ({exc})"[:200]
            raise Problem(400, "invalid_multipart", detail, field="Content-Type") from None
        raise Problem(400, "missing_file", "send the CSV as a form field named file", field="file")
    raise Problem(
        415,
        "unsupported_media_type",
        "send the CSV as text/csv, or as the file field of multipart/form-data",
        field="Content-Type",
    )


def _json(status: int, body: msgspec.Struct, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        status=status, body=_encoder.encode(body), content_type="application/json", headers=headers
    )


@routes.post("/api/v1/bulk-orders")
async def upload(request: web.Request) -> web.Response:
    principal = await authorize(request, "orders:write")
    partial = choice(request.query, "partial", {"true", "false"}) == "true"
    settings = request.app[SETTINGS]
    data = await _file_bytes(request, settings.bulk_max_bytes)
    try:
        # Pure but CPU-bound (0.2 s for 20,000 rows): off the event loop, in a thread.
        parsed = await asyncio.to_thread(
            parse_file,
            data,
            max_bytes=settings.bulk_max_bytes,
            max_rows=settings.bulk_max_rows,
            max_amount_minor=settings.max_amount_minor,
        )
    except BulkLimitExceeded as exc:
        raise Problem(413, exc.code, exc.detail) from None
    parsed = route_rows(parsed, request.app[ROUTER].choose)
    if not parsed.acceptable(partial):
        retry = (
            " (partial=true orders the valid rows)" if parsed.readable and parsed.accepted else ""
        )
        raise Problem(
            422,
            "invalid_rows",
            f"{len(parsed.errors)} problem(s) in the file; nothing was ordered{retry}",
            extra={
                "rows": parsed.rows,
                "errors": parsed.errors[:MAX_REPORTED_ERRORS],
                "error_count": len(parsed.errors),
            },
        )
    outcome = await submit_batch(
        request.app[INTAKE],
        request.app[POOL],
        parsed,
        client_id=principal.client_id,
        partial=partial,
        now=datetime.now(UTC),
        metadata={"request_id": request[REQUEST_ID], "actor": principal.key_id},
    )
    body = BulkUploaded(
        **msgspec.structs.asdict(outcome),
        errors=parsed.errors[:MAX_REPORTED_ERRORS],
        error_count=len(parsed.errors),
        status_url=f"/api/v1/bulk-orders/{outcome.batch_id}",
    )
    if outcome.replayed:
        return _json(200, body, {"Idempotent-Replayed": "true"})
    return _json(202, body)


@routes.get("/api/v1/bulk-orders/{batch_id}")
async def progress(request: web.Request) -> web.Response:
    principal = await authorize(request, "orders:write")
    batch = request.match_info["batch_id"]
    found = await batch_progress(request.app[POOL], principal.client_id, batch)
    if found is None:
        raise Problem(404, "batch_not_found", "no batch with this id", field="batch_id")
    return _json(200, found)
