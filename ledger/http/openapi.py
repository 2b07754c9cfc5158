"""GET /openapi.json, generated from the msgspec types the handlers use.

Request and response schemas come from ledger.http.schemas; a test checks that every route the
app serves is described here and nothing else, so the document cannot drift from the code.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import msgspec
from aiohttp import web

from ledger.http.operations import OPERATIONS, Operation
from ledger.http.schemas import ProblemBody

routes = web.RouteTableDef()


# Every answer carries its request id; these also say when to come back.
_REQUEST_ID = {"description": "The request's id (echoed when sent, else generated)"}
_RETRY_AFTER = {"description": "Seconds to wait before sending the same request again"}
_REPLAYED = {"description": "true when this answers an earlier request with the same key or file"}
_LOCATION = {"description": "Where the run's progress is read"}
_REPLAYABLE = frozenset({"/api/v1/orders", "/api/v1/bulk-orders"})
# A form's one field: the file.
_FORM = {"type": "object", "properties": {"file": {"type": "string", "format": "binary"}}}


def _schema_of(body: type) -> dict[str, Any]:
    if issubclass(body, msgspec.Struct):
        return {"$ref": f"#/components/schemas/{body.__name__}"}
    return msgspec.json.schema(body)  # a plain type (the document itself: an object)


def _request_content(body: type | str | tuple[str, ...]) -> dict[str, Any]:
    if isinstance(body, type):
        return {"application/json": {"schema": _schema_of(body)}}
    media_types = (body,) if isinstance(body, str) else body
    return {
        media: {"schema": _FORM if media == "multipart/form-data" else {"type": "string"}}
        for media in media_types
    }


def _operation_id(op: Operation) -> str:
    words = op.path.replace(".csv", "_csv").strip("/").replace("{", "").replace("}", "")
    return f"{op.method}_{words.replace('/', '_').replace('-', '_')}"


def _tag(op: Operation) -> str:
    parts = op.path.strip("/").split("/")
    return parts[2] if parts[:2] == ["api", "v1"] else parts[0].replace(".json", "")


def _query_parameters(query: type) -> list[dict[str, Any]]:
    """The route's query struct as OpenAPI parameters (names as sent, schemas as checked)."""
    schema = msgspec.json.schema(query)
    fields = schema.get("$defs", {}).get(query.__name__, schema)
    required = set(fields.get("required", []))
    parameters = []
    for name, field in fields.get("properties", {}).items():
        # An optional parameter is one that may be left out, not one that may be null.
        options = [o for o in field.get("anyOf", [field]) if o != {"type": "null"}]
        (schema,) = options
        parameter = {"name": name, "in": "query", "required": name in required}
        if "description" in schema:
            parameter["description"] = schema["description"]
        schema = {k: v for k, v in schema.items() if k != "description"}
        parameters.append(parameter | {"schema": schema})
    return parameters


def _operation(op: Operation) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "operationId": _operation_id(op),
        "summary": op.summary,
        "tags": [_tag(op)],
        "responses": {},
    }
    for status, body in op.responses.items():
        headers = {"X-Request-Id": {"schema": {"type": "string"}, **_REQUEST_ID}}
        if status in (409, 429, 503):
            headers["Retry-After"] = {"schema": {"type": "integer"}, **_RETRY_AFTER}
        if status == 200 and op.path in _REPLAYABLE:
            headers["Idempotent-Replayed"] = {"schema": {"type": "string"}, **_REPLAYED}
        if status == 202 and op.path == "/api/v1/reconciliations":
            headers["Location"] = {"schema": {"type": "string"}, **_LOCATION}
        response: dict[str, Any] = {"description": str(status), "headers": headers}
        if isinstance(body, str):
            response["content"] = {body: {"schema": {"type": "string"}}}
        elif body is not None:
            media = "application/problem+json" if body is ProblemBody else "application/json"
            response["content"] = {media: {"schema": _schema_of(body)}}
        doc["responses"][str(status)] = response
    if op.request is not None:
        doc["requestBody"] = {"required": True, "content": _request_content(op.request)}
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in _path_parameters(op.path)
    ] + _query_parameters(op.query)
    if op.method == "post" and op.path == "/api/v1/orders":
        parameters.append(
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": False,
                "schema": {"type": "string", "minLength": 8, "maxLength": 255},
            }
        )
    if parameters:
        doc["parameters"] = parameters
    if op.scope:
        doc["security"] = [{"bearer": [op.scope]}]
    return doc


def _path_parameters(path: str) -> list[str]:
    return [part[1:-1] for part in path.split("/") if part.startswith("{")]


@cache
def document() -> bytes:
    bodies = [body for op in OPERATIONS for body in (op.request, *op.responses.values())]
    types = {t for t in bodies if isinstance(t, type) and issubclass(t, msgspec.Struct)}
    _, components = msgspec.json.schema_components(
        sorted(types, key=lambda t: t.__name__), ref_template="#/components/schemas/{name}"
    )
    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS:
        paths.setdefault(op.path, {})[op.method] = _operation(op)
    spec = {
        "openapi": "3.1.0",
        "info": {"title": "Gift card vendor integration ledger", "version": "1"},
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
    return msgspec.json.encode(spec)


@routes.get("/openapi.json")
async def openapi_json(_request: web.Request) -> web.Response:
    return web.Response(body=document(), content_type="application/json")
