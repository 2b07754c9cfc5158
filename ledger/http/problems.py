"""Errors as RFC 9457 application/problem+json, raised from anywhere below a handler."""

from __future__ import annotations

from typing import Any

import msgspec
from aiohttp import web

PROBLEM_TYPE_BASE = "https://giftcard-ledger.dev/problems/"


class Problem(Exception):
    """A client-facing error: status, a stable machine code, and what exactly was wrong."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        field: str | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail, self.field = status, code, detail, field
        self.headers = headers or {}
        self.extra = extra or {}

    def response(self, request_id: str | None = None) -> web.Response:
        body: dict[str, Any] = {
            "type": PROBLEM_TYPE_BASE + self.code,
            "title": self.code.replace("_", " "),
            "status": self.status,
            "detail": self.detail,
            "code": self.code,
        }
        if self.field is not None:
            body["field"] = self.field
        if request_id:
            body["request_id"] = request_id
        body.update(self.extra)
        return web.Response(
            status=self.status,
            body=msgspec.json.encode(body),
            content_type="application/problem+json",
            headers=self.headers,
        )


def from_validation_error(exc: msgspec.ValidationError | msgspec.DecodeError) -> Problem:
    """msgspec says e.g. "Expected `int`, got `str` - at `$.amount`": keep the field path."""
    message = str(exc)
    field = None
    if " - at `$." in message:
        message, _, path = message.rpartition(" - at `$.")
        field = path.rstrip("`")
    elif message.startswith(("Object contains unknown field", "Object missing required field")):
        field = message.rsplit("`", 2)[-2]
    if isinstance(exc, msgspec.ValidationError):
        return Problem(422, "invalid_field", message, field=field)
    detail = f"request body is not valid JSON: {message}"
    return Problem(400, "malformed_json", detail, field="body")


def decode_body(decoder: msgspec.json.Decoder, raw: bytes) -> Any:
    """A request body through a prebuilt decoder; every way it can be wrong is a problem."""
    if b"\\u0000" in raw:  # valid JSON, but text PostgreSQL (and jsonb) cannot hold
        raise Problem(400, "malformed_json", "request body holds a NUL character", field="body")
    try:
        return decoder.decode(raw)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise from_validation_error(exc) from None
    except UnicodeDecodeError as exc:  # msgspec checks UTF-8 inside strings only as it decodes
        detail = f"request body is not valid UTF-8 (byte {exc.start})"
        raise Problem(400, "malformed_json", detail, field="body") from None
