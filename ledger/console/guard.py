"""What every console page does first: find the session, check the scope, check the CSRF token
of a form; and how a page answers (a template, with the session and its token in the context).

Scopes are the API's (Principal.allows): a page needs what its API route needs. A page a key
may not see answers 403 with a page saying which scope it lacks, never the data.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import quote

import aiohttp_jinja2
from aiohttp import web

from ledger.console.sessions import COOKIE, Session, load_session, same_token
from ledger.http.keys import POOL
from ledger.http.problems import Problem

SESSION = web.RequestKey("console_session", Session)
# Pages are private and change with every event: never cached, never framed by another site.
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
}


class Refused(Exception):
    """The page answers `status` with a message page instead of its own."""

    def __init__(self, status: int, title: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.title, self.detail = status, title, detail


def render(request: web.Request, template: str, status: int = 200, **context: Any) -> web.Response:
    session = request.get(SESSION)
    principal = session.principal if session else None
    context |= {"session": session, "principal": principal, "here": request.path}
    return aiohttp_jinja2.render_template(template, request, context, status=status)


def refused(request: web.Request, exc: Refused) -> web.Response:
    return render(request, "message.html", exc.status, title=exc.title, detail=exc.detail)


async def signed_in(request: web.Request, scope: str) -> Session:
    """The caller's live session holding `scope`; a redirect to sign in, or Refused (403)."""
    async with request.app[POOL].acquire() as conn:
        session = await load_session(conn, request.cookies.get(COOKIE))
    if session is None:
        # The raw path, quoted whole: what was decoded from %0D%0A must not reach a header.
        raise web.HTTPSeeOther(f"/console/sign-in?next={quote(request.raw_path, safe='')}")
    request[SESSION] = session
    if not session.principal.allows(scope):
        raise Refused(
            403,
            "Not for this key",
            f"This page needs an API key with the {scope} scope; "
            f"key {session.principal.key_id} does not have it.",
        )
    return session


async def posted_form(request: web.Request) -> Mapping[str, object]:
    """The posted form; Refused (400) when its bytes are not text in the charset it names, or
    a multipart body has no boundary or does not match it (aiohttp's ValueError)."""
    try:
        return await request.post()
    except (ValueError, LookupError):
        raise Refused(
            400, "Form refused", "The form could not be read: send it URL-encoded, in UTF-8."
        ) from None


async def form_of(request: web.Request, session: Session) -> dict[str, str]:
    """A posted form whose CSRF token is the session's; Refused (403) otherwise."""
    form = await posted_form(request)
    token = form.get("csrf_token")
    if not isinstance(token, str) or not same_token(token, session.csrf_token):
        raise Refused(
            403,
            "Form refused",
            "The form's security token is missing or stale. Reload the page and try again.",
        )
    return {k: v for k, v in form.items() if isinstance(v, str)}


Page = Callable[[web.Request, Session], Awaitable[web.Response]]


def page(scope: str) -> Callable[[Page], Callable[[web.Request], Awaitable[web.Response]]]:
    """A console handler behind a session holding `scope`. A bad parameter (the API's own
    checks, ledger/http/params.py) or a refusal answers with a page saying what was wrong."""

    def wrap(handler: Page) -> Callable[[web.Request], Awaitable[web.Response]]:
        @functools.wraps(handler)
        async def run(request: web.Request) -> web.Response:
            try:
                return await handler(request, await signed_in(request, scope))
            except Refused as exc:
                return refused(request, exc)
            except Problem as exc:
                return refused(request, Refused(exc.status, "Not possible", exc.detail))

        return run

    return wrap
