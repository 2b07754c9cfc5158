"""Reconciliation write routes (admin): start a run against a vendor, import a vendor's file.

A run starts in a background task, answered 202 at once; its progress is in the log, so one cut
short by a restart is resumable. Reads live in projections/discrepancies/http.py.
"""

from __future__ import annotations

import asyncio
import uuid
import weakref
from datetime import UTC, datetime, time, timedelta
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

import asyncpg
import msgspec
import structlog
from aiohttp import web
from msgspec import Meta

from ledger.http import params
from ledger.http.auth import authorize
from ledger.http.keys import POOL, SETTINGS, VENDORS
from ledger.http.problems import Problem, decode_body
from ledger.http.schemas import Identifier
from ledger.reconciliation.files import FileRejected, file_run_id, ingest_file
from ledger.reconciliation.progress import load_progress
from ledger.reconciliation.runs import (
    OrderConflict,
    PageUnavailable,
    RunInProgress,
    RunMismatch,
    run_reconciliation,
)
from ledger.reconciliation.schedule import run_schedule
from ledger.reconciliation.window import (
    DEFAULT_OVERLAP,
    DEFAULT_SCHEDULE_AT,
    WindowError,
    check_window,
    previous_business_date,
    scheduled_window,
)
from ledger.vendors.client import VendorClient

log = structlog.get_logger(__name__)
routes = web.RouteTableDef()
ZonedTime = Annotated[datetime, Meta(tz=True, description="ISO 8601 with a UTC offset")]
# Bounds a file held in memory while it is checked and recorded: ~200,000 rows, a busy
# vendor's day.
MAX_FILE_BYTES = 32 * 1024 * 1024
# A file of that size records in about 10 s (docs/benchmarks.md): a client told another import
# holds it, or that its import stopped part way, asks again after this and gets the summary or
# resumes where it stopped; asking sooner only finds the import still running.
RETRY_AFTER_IMPORT_S = "10"
# A rejected file's problem lists this many errors at most (error_count counts them all).
MAX_REPORTED_ERRORS = 1000
_encoder = msgspec.json.Encoder()
# Background runs per app: held so none is collected mid-run; cancel_runs stops them.
_RUNS: weakref.WeakKeyDictionary[web.Application, set[asyncio.Task]] = weakref.WeakKeyDictionary()


class StartReconciliation(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Omitted vendor: the only configured one. Omitted window: the previous business day."""

    vendor: Identifier | None = None
    from_: ZonedTime | None = msgspec.field(default=None, name="from")
    to: ZonedTime | None = None


class RunAccepted(msgspec.Struct):
    run_id: str
    status: Literal["running", "completed"]


_start_decoder = msgspec.json.Decoder(StartReconciliation)


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _json(status: int, body: msgspec.Struct, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        status=status, body=_encoder.encode(body), content_type="application/json", headers=headers
    )


def _client(request: web.Request, vendor: str | None) -> tuple[str, VendorClient]:
    clients = request.app[VENDORS]
    configured = ", ".join(sorted(clients)) or "none"
    if vendor is None and len(clients) == 1:
        return next(iter(clients.items()))
    if vendor is None:
        detail = f"name the vendor; configured vendors: {configured}"
        raise Problem(422, "vendor_required", detail, field="vendor")
    if vendor not in clients:
        detail = f"no vendor {vendor!r} is configured; configured vendors: {configured}"
        raise Problem(422, "unknown_vendor", detail, field="vendor")
    return vendor, clients[vendor]


def _window(request: web.Request, body: StartReconciliation) -> tuple[datetime, datetime]:
    if body.from_ is None and body.to is None:
        zone = ZoneInfo(request.app[SETTINGS].business_tz)
        return scheduled_window(previous_business_date(_utcnow(), zone), zone, DEFAULT_OVERLAP)
    if body.from_ is None or body.to is None:
        missing = "from" if body.from_ is None else "to"
        detail = "send both from and to, or neither for the previous business day"
        raise Problem(422, "incomplete_window", detail, field=missing)
    try:
        check_window(body.from_, body.to)
    except WindowError as exc:
        raise Problem(422, "invalid_window", exc.reason, field=exc.field) from None
    return body.from_, body.to


async def _run(pool: asyncpg.Pool, client: VendorClient, run_id: str, window) -> None:
    start, end = window
    try:
        summary = await run_reconciliation(
            pool, client, run_id=run_id, window_start=start, window_end=end, clock=_utcnow
        )
    except (RunInProgress, PageUnavailable) as exc:
        log.warning("reconciliation_stopped", run_id=run_id, reason=str(exc))
    except Exception:
        log.exception("reconciliation_failed", run_id=run_id)
    else:
        log.info("reconciliation_done", run_id=run_id, records=summary.records_seen)


@routes.post("/api/v1/reconciliations")
async def start_reconciliation(request: web.Request) -> web.Response:
    await authorize(request, "admin")
    raw = await request.read()
    if raw and request.content_type not in ("application/json", "application/octet-stream"):
        detail = "send the run as application/json"
        raise Problem(415, "unsupported_media_type", detail, field="Content-Type")
    body = decode_body(_start_decoder, raw or b"{}")
    vendor, client = _client(request, body.vendor)
    window = _window(request, body)
    run_id = f"manual-{vendor}-{uuid.uuid4().hex}"
    _in_background(request, client, run_id, window)
    accepted, location = RunAccepted(run_id, "running"), f"/api/v1/reconciliations/{run_id}"
    return _json(202, accepted, {"Location": location})


def _in_background(request: web.Request, client: VendorClient, run_id: str, window) -> None:
    task = asyncio.create_task(_run(request.app[POOL], client, run_id, window))
    (running := _RUNS.setdefault(request.app, set())).add(task)
    task.add_done_callback(running.discard)


@routes.post("/api/v1/reconciliations/{run_id}/resume")
async def resume_reconciliation(request: web.Request) -> web.Response:
    """Carry a stopped vendor run on from its last recorded page: a manual run's id is its
    own, so nothing else ever resumes it (the schedule resumes the runs it names itself)."""
    await authorize(request, "admin")
    run_id = request.match_info["run_id"]
    progress = await load_progress(request.app[POOL], run_id)
    if progress is None:
        raise Problem(404, "run_not_found", "no reconciliation run with this id", field="run_id")
    started = progress.started
    if started.source == "file":
        detail = "a file's run resumes when the same file is imported again"
        raise Problem(409, "file_run", detail, field="run_id")
    location = {"Location": f"/api/v1/reconciliations/{run_id}"}
    if progress.completed is not None:
        return _json(200, RunAccepted(run_id, "completed"), location)
    _, client = _client(request, started.vendor)
    _in_background(request, client, run_id, (started.window_start, started.window_end))
    return _json(202, RunAccepted(run_id, "running"), location)


async def cancel_runs(app: web.Application) -> None:
    """For app.on_shutdown: stop this process's runs; each resumes from its last page (a
    manual one by POST /api/v1/reconciliations/{run_id}/resume)."""
    tasks = _RUNS.pop(app, set())
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def _read_file(request: web.Request) -> str:
    charset = (request.charset or "utf-8").lower()
    if request.content_type != "text/csv" or charset not in ("utf-8", "utf8"):
        detail = "send the file as text/csv in UTF-8"
        raise Problem(415, "unsupported_media_type", detail, field="Content-Type")
    too_large = Problem(413, "file_too_large", f"files are limited to {MAX_FILE_BYTES} bytes")
    if (request.content_length or 0) > MAX_FILE_BYTES:
        raise too_large
    # Read past client_max_size (sized for JSON bodies), under this route's own limit.
    chunks, size = [], 0
    async for chunk in request.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > MAX_FILE_BYTES:
            raise too_large
        chunks.append(chunk)
    try:
        return b"".join(chunks).decode("utf-8")
    except UnicodeDecodeError as exc:
        detail = f"the file is not UTF-8 (byte {exc.start})"
        raise Problem(400, "invalid_encoding", detail) from None


def _file_window(request: web.Request) -> tuple[datetime, datetime] | None:
    """?from=&to=: the span the file vouches for, when the vendor says it; both or neither."""
    start, end = params.window(request.query)
    if (start is None) != (end is None):
        missing = "to" if end is None else "from"
        raise Problem(400, "incomplete_window", "give both from and to, or neither", field=missing)
    if start is None or end is None:
        return None
    try:
        check_window(start, end)
    except WindowError as exc:
        raise Problem(422, "invalid_window", exc.reason, field=exc.field) from None
    return start, end


@routes.post("/api/v1/reconciliations/files")
async def import_file(request: web.Request) -> web.Response:
    await authorize(request, "admin")
    vendor = request.query.get("vendor")
    if not vendor:
        detail = "name the vendor the file comes from: ?vendor=NAME"
        raise Problem(400, "vendor_required", detail, field="vendor")
    vendor, _ = _client(request, vendor)
    window = _file_window(request)
    text = await _read_file(request)
    run_id = file_run_id(vendor, text, window)
    try:
        summary = await ingest_file(request.app[POOL], vendor, run_id, text, _utcnow, window)
    except FileRejected as exc:
        errors = [msgspec.to_builtins(e) for e in exc.errors[:MAX_REPORTED_ERRORS]]
        detail = f"{len(exc.errors)} error(s) in the file; nothing was recorded"
        extra = {"errors": errors, "error_count": len(exc.errors)}
        raise Problem(422, "file_rejected", detail, extra=extra) from None
    except RunMismatch as exc:
        raise Problem(409, "run_conflict", str(exc), field=exc.field) from None
    except RunInProgress:
        detail = "this file is being imported by another request; send it again to get its summary"
        retry = {"Retry-After": RETRY_AFTER_IMPORT_S}
        raise Problem(409, "import_in_progress", detail, headers=retry) from None
    except OrderConflict:
        detail = "orders kept changing under a page of the file; send it again to resume there"
        retry = {"Retry-After": RETRY_AFTER_IMPORT_S}
        raise Problem(409, "import_interrupted", detail, headers=retry) from None
    return _json(200 if summary.already_completed else 201, summary)


def schedule_worker(at: time = DEFAULT_SCHEDULE_AT, overlap: timedelta = DEFAULT_OVERLAP):
    """A background worker (app, stop) for ledger.http.app's background_ctx: the nightly run."""

    async def work(app: web.Application, stop: asyncio.Event) -> None:
        zone = ZoneInfo(app[SETTINGS].business_tz)
        await run_schedule(app[POOL], app[VENDORS], stop, tz=zone, at=at, overlap=overlap)

    return work
