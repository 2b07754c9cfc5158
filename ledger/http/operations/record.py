"""One route's entry in the route table (ledger/http/operations): what it answers, takes and
needs."""

from __future__ import annotations

from typing import NamedTuple

from ledger.http.queries import Query
from ledger.http.schemas import ProblemBody


class Operation(NamedTuple):
    method: str
    path: str
    summary: str
    # A type is a JSON body of that schema; a str a text body of that media type (a tuple:
    # any of those media types); None none. The same for the request body.
    responses: dict[int, type | str | None]
    request: type | str | tuple[str, ...] | None = None
    scope: str | None = None
    # The route's query parameters (ledger.http.queries): none unless it says.
    query: type[Query] = Query


# Text bodies, by media type.
CSV = "text/csv"
PROMETHEUS_TEXT = "text/plain; version=0.0.4"
# A bulk file: the CSV itself, or a form's `file` field.
BULK_FILE = (CSV, "multipart/form-data")
# What every authenticated route may answer besides its own.
PROBLEMS = {400: ProblemBody, 401: ProblemBody, 403: ProblemBody}
