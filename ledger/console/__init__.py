"""The finance and operations console: server-rendered pages over our own record, served by
the service itself (templates and assets in this package; no CDN, no build step, no script
needed). Signed in with an API key; every page enforces the scope its API route needs.

May import the HTTP edge's helpers (params, keys, the shared commands of its routes), the
projections' read functions and the cross-cutting modules; nothing imports it but the app.
"""

from __future__ import annotations

import functools
from pathlib import Path
from urllib.parse import quote

import aiohttp_jinja2
import jinja2
from aiohttp import web

from ledger.console import discrepancy_pages, ledger_pages, order_pages, signin, today
from ledger.console.guard import PAGE_HEADERS

HERE = Path(__file__).parent
ROUTES = (signin, today, ledger_pages, discrepancy_pages, order_pages)


def add_console(app: web.Application) -> None:
    environment = aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        # Every value is escaped unless a template says otherwise: a customer id or a vendor's
        # memo is data, never markup.
        autoescape=jinja2.select_autoescape(default=True),
        undefined=jinja2.StrictUndefined,
    )
    # An idempotency key is one path segment whatever it holds ('/', '?', '#').
    environment.filters["segment"] = functools.partial(quote, safe="")
    for module in ROUTES:
        app.add_routes(module.routes)
    app.router.add_static("/console/static", HERE / "static")
    app.on_response_prepare.append(_page_headers)


async def _page_headers(request: web.Request, response: web.StreamResponse) -> None:
    """Every console answer (pages, redirects, downloads, the error middleware's problems) is
    private and never framed; the stylesheet alone may be cached."""
    path = request.path
    if (path == "/" or path.startswith("/console")) and not path.startswith("/console/static/"):
        response.headers.update(PAGE_HEADERS)
