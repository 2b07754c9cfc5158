"""The HTTP server around the app: requests aiohttp's parser refuses are problems too.

aiohttp answers a request it cannot parse (a control character in a header, a Content-Length
that is not a number) itself, before any middleware, with a plain-text 400 and a traceback on
stderr. It has no public hook for that answer; its `RequestHandler.handle_error` is the method
a subclass overrides, and the runner below makes the server build that subclass.
tests/e2e/test_serve_process.py pins this against the aiohttp version installed.
"""

from __future__ import annotations

import ast
import re
import uuid

import structlog
from aiohttp import web
from aiohttp.http_exceptions import (
    BadHttpMethod,
    HttpProcessingError,
    InvalidHeader,
    InvalidURLError,
)
from aiohttp.web_protocol import RequestHandler

from ledger.http.problems import Problem

log = structlog.get_logger("ledger.http")

# RFC 9110 token: what a header name may be made of.
_TOKEN = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


def refused_field(exc: HttpProcessingError) -> tuple[str, str]:
    """(the field, why) from the parser's error. llhttp quotes the offending line as
    `reason:\\n\\n  b'Name: value'\\n  ^`; the value is never repeated back (it may be a key)."""
    reason, _, rest = str(exc.message).partition(":\n")
    if isinstance(exc, BadHttpMethod):
        return "method", reason
    if isinstance(exc, InvalidURLError):  # without llhttp, the message is the bare URL
        return "path", reason if rest else "invalid character in the path"
    lines = (line.strip() for line in rest.splitlines())
    quoted = next((line for line in lines if line[:2] in ("b'", 'b"')), "")
    try:
        line = ast.literal_eval(quoted) if quoted else b""
    except (ValueError, SyntaxError):
        line = b""
    name, colon, _ = line.partition(b":") if isinstance(line, bytes) else (b"", b"", b"")
    if colon and _TOKEN.fullmatch(name):
        return name.decode("ascii"), reason
    if colon or isinstance(exc, InvalidHeader):
        return "headers", reason.split(":", 1)[0]
    return "request", reason.split(":", 1)[0]


class _ProblemRequestHandler(RequestHandler):
    __slots__ = ()  # the same layout as aiohttp's handler: only handle_error differs

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if not isinstance(exc, HttpProcessingError) or request.writer.output_size > 0:
            return super().handle_error(request, status, exc, message)
        field, reason = refused_field(exc)
        request_id = uuid.uuid4().hex
        log.warning("malformed request refused", field=field, reason=reason, request_id=request_id)
        detail = f"{field}: {reason}; the request could not be parsed"
        response = Problem(status, "malformed_request", detail, field=field).response(request_id)
        response.headers["X-Request-Id"] = request_id
        response.force_close()  # the rest of the stream cannot be trusted to frame a request
        return response


class _ProblemServer(web.Server):
    def __call__(self) -> RequestHandler:
        handler = super().__call__()
        handler.__class__ = _ProblemRequestHandler  # same slots, so the swap is sound
        return handler


class ProblemAppRunner(web.AppRunner):
    """An AppRunner whose connections answer unparseable requests with problem+json."""

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        server.__class__ = _ProblemServer  # adds no state: only the protocol it builds differs
        return server
