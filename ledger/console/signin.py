"""Signing in with an API key, and out. The key is checked as the API checks it
(ledger.auth.authenticate_until); the browser then holds a session cookie, never the key."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from urllib.parse import urlsplit

from aiohttp import web

from ledger.auth import AuthError, Principal, authenticate_until
from ledger.console.guard import SESSION, Refused, form_of, posted_form, refused, render
from ledger.console.sessions import (
    COOKIE,
    SIGN_IN_COOKIE,
    end_session,
    load_session,
    open_session,
    same_token,
    session_expiry,
)
from ledger.http.keys import POOL

routes = web.RouteTableDef()
HOME = "/console/today"
# A form field bound is generous for any API key and stops a huge post early.
MAX_KEY_CHARS = 256


def _next(target: str | None, home: str = HOME) -> str:
    """Only a path on this console: an absolute or scheme-relative URL would make the
    sign-in page an open redirect."""
    if not target or not target.startswith("/console/") or not target.isprintable():
        return home  # a control character would also break the Location header
    parts = urlsplit(target)
    return home if parts.scheme or parts.netloc else target


def _home(principal: Principal) -> str:
    # A key without finance scopes (a merchant's orders:write) sees its bulk batches.
    return HOME if principal.allows("finance:read") else "/console/batches"


def _cookie(response: web.StreamResponse, request: web.Request, name: str, value: str, **kw):
    # SameSite=Strict: no other site's page can make the browser send it (CSRF's first line).
    response.set_cookie(
        name,
        value,
        httponly=True,
        samesite="Strict",
        secure=request.secure,
        path="/console",
        **kw,
    )


def _sign_in_page(request: web.Request, status: int = 200, error: str | None = None):
    token = secrets.token_urlsafe(32)
    response = render(
        request,
        "sign_in.html",
        status,
        csrf_token=token,
        next=_next(request.query.get("next")),
        error=error,
    )
    _cookie(response, request, SIGN_IN_COOKIE, token, max_age=3600)
    return response


@routes.get("/")
async def root(_request: web.Request) -> web.Response:
    raise web.HTTPSeeOther(HOME)


@routes.get("/console")
@routes.get("/console/")
async def console_root(_request: web.Request) -> web.Response:
    raise web.HTTPSeeOther(HOME)


@routes.get("/console/sign-in")
async def sign_in_form(request: web.Request) -> web.Response:
    return _sign_in_page(request)


@routes.post("/console/sign-in")
async def sign_in(request: web.Request) -> web.Response:
    try:
        form = await posted_form(request)
    except Refused as exc:
        return refused(request, exc)
    sent, expected = form.get("csrf_token"), request.cookies.get(SIGN_IN_COOKIE)
    if not isinstance(sent, str) or expected is None or not same_token(sent, expected):
        return _sign_in_page(request, 403, "The form expired. Please sign in again.")
    key = form.get("api_key")
    key = key.strip() if isinstance(key, str) else ""
    # Keys are printable ASCII: anything else (a NUL above all) is no key, before any query.
    if not key or len(key) > MAX_KEY_CHARS or not key.isprintable():
        return _sign_in_page(request, 422, "Enter an API key.")
    async with request.app[POOL].acquire() as conn:
        try:
            principal, key_expires = await authenticate_until(conn, f"Bearer {key}")
        except AuthError as exc:
            return _sign_in_page(request, 401, exc.detail)
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        expires_at = session_expiry(datetime.now(UTC), key_expires)
        await open_session(conn, principal, token, csrf, expires_at)
    next_page = form.get("next")
    target = _next(next_page if isinstance(next_page, str) else None, _home(principal))
    response = web.HTTPSeeOther(target)
    _cookie(response, request, COOKIE, token, expires=expires_at.strftime(_COOKIE_DATE))
    response.del_cookie(SIGN_IN_COOKIE, path="/console")
    raise response


# RFC 6265 sane-cookie-date.
_COOKIE_DATE = "%a, %d %b %Y %H:%M:%S GMT"


@routes.post("/console/sign-out")
async def sign_out(request: web.Request) -> web.Response:
    token = request.cookies.get(COOKIE)
    async with request.app[POOL].acquire() as conn:
        session = await load_session(conn, token)
        if session is not None:
            request[SESSION] = session
            try:
                await form_of(request, session)
            except Refused as exc:
                return refused(request, exc)
            assert token is not None
            await end_session(conn, token)
    response = web.HTTPSeeOther("/console/sign-in")
    response.del_cookie(COOKIE, path="/console")
    raise response
