"""The one middleware: request id, canonical log line, latency metric, errors as problems."""

from __future__ import annotations

import re
import time
import uuid

import msgspec
import structlog
from aiohttp import web

from ledger.db import ABORTED_ON_A_CONFLICT, DATABASE_GONE
from ledger.http.keys import REQUEST_ID
from ledger.http.operations import operation
from ledger.http.params import BAD_CHARACTERS
from ledger.http.problems import Problem, from_validation_error
from ledger.http.queries import names
from ledger.metrics import METRICS

log = structlog.get_logger("ledger.http")

# A caller-supplied request id is echoed only if it is short and printable (no log injection).
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")

_BODY_HEADERS = {"content-type", "content-length"}
# A restarting PostgreSQL is back within seconds; a client retrying sooner only adds load.
RETRY_AFTER_DATABASE_S = "2"
# A transaction aborted on a conflict (a deadlock, a serialization failure) lost to another
# that is usually finishing now: the same request a second later finds it gone or waits for it.
RETRY_AFTER_CONFLICT_S = "1"


def _route_name(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


def _problem_from_http(request: web.Request, exc: web.HTTPException) -> Problem:
    """aiohttp's own 404/405/413 and friends, in the same problem+json shape as ours."""
    headers = {k: v for k, v in exc.headers.items() if k.lower() not in _BODY_HEADERS}
    detail = {
        404: f"no resource at {request.path}",
        405: f"{request.method} is not allowed on {request.path}",
        413: "request body is larger than the configured limit",
    }.get(exc.status, exc.reason)
    return Problem(exc.status, exc.reason.lower().replace(" ", "_"), detail, headers=headers)


def _refuse_bad_characters(request: web.Request) -> None:
    """A path parameter or query value holding a control character or a byte that was not
    UTF-8 is a 400 naming it, before any handler (or the database) sees it."""
    places = [("path", request.match_info.items()), ("query", request.query.items())]
    for where, pairs in places:
        for name, value in pairs:
            if BAD_CHARACTERS.search(name) or BAD_CHARACTERS.search(value):
                field = name if not BAD_CHARACTERS.search(name) else where
                detail = f"{field}: control characters and bytes that are not UTF-8 are refused"
                raise Problem(400, "invalid_parameter", detail, field=field)


def _check_query(request: web.Request) -> None:
    """The query against the route's declared parameters (ledger.http.queries): one it does
    not take, a wrong type or a missing required one is a 400 naming it."""
    resource = request.match_info.route.resource
    op = operation(request.method, resource.canonical) if resource is not None else None
    if op is None or (not request.query and not names(op.query)):
        return
    try:
        msgspec.convert(dict(request.query), op.query, strict=False)
    except msgspec.ValidationError as exc:
        message = str(exc)
        if message.startswith("Object contains unknown field"):
            name = message.rsplit("`", 2)[-2]
            takes = ", ".join(names(op.query)) or "no query parameters"
            detail = f"{name}: not a parameter of this route (it takes {takes})"
            raise Problem(400, "unknown_parameter", detail, field=name) from None
        problem = from_validation_error(exc)
        raise Problem(400, "invalid_parameter", problem.detail, field=problem.field) from None


@web.middleware
async def canonical_request(request: web.Request, handler) -> web.StreamResponse:
    supplied = request.headers.get("X-Request-Id", "")
    request_id = supplied if _REQUEST_ID.fullmatch(supplied) else uuid.uuid4().hex
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(request_id=request_id)
    request[REQUEST_ID] = request_id
    started = time.perf_counter()
    try:
        _refuse_bad_characters(request)
        _check_query(request)
        response = await handler(request)
    except Problem as problem:
        response = problem.response(request_id)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        response = _problem_from_http(request, exc).response(request_id)
    except DATABASE_GONE as exc:
        log.warning("database unavailable", error=f"{type(exc).__name__}: {exc}")
        response = Problem(
            503,
            "database_unavailable",
            "the database is unavailable; retry the same request (same idempotency key)",
            headers={"Retry-After": RETRY_AFTER_DATABASE_S},
        ).response(request_id)
    except ABORTED_ON_A_CONFLICT as exc:
        # Its transaction was rolled back: what the request had written in it is gone, and the
        # same request again is what every route is built for (idempotency keys, phases that
        # each commit, observations appended at the head).
        log.warning("transaction aborted on a conflict", error=f"{type(exc).__name__}: {exc}")
        response = Problem(
            503,
            "transaction_conflict",
            "the database aborted this request's transaction on a conflict with another; "
            "retry the same request (same idempotency key)",
            headers={"Retry-After": RETRY_AFTER_CONFLICT_S},
        ).response(request_id)
    except Exception:
        log.exception("unhandled error")
        response = Problem(500, "internal_error", "internal error; see server logs").response(
            request_id
        )
    elapsed = time.perf_counter() - started
    route = _route_name(request)
    response.headers["X-Request-Id"] = request_id
    METRICS.requests.labels(route, request.method, str(response.status)).observe(elapsed)
    log.info(
        "request",
        method=request.method,
        route=route,
        path=request.path,
        status=response.status,
        duration_ms=round(elapsed * 1000, 2),
    )
    return response
