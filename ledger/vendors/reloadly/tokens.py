"""Reloadly's OAuth2 client-credentials tokens: fetched once, shared by every request, renewed
before they expire, and dropped when Reloadly says a token is no longer good."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta

import aiohttp

from ledger.vendors.reloadly import wire
from ledger.vendors.reloadly.classify import error_code
from ledger.vendors.transport import decode_read, read

# Renewed this long before it expires (Reloadly's tokens live days; a request in flight at
# the expiry would otherwise meet a 401).
RENEW_BEFORE = timedelta(minutes=5)


class TokenSource:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        auth_url: str,
        request: wire.TokenRequest,
        timeout: aiohttp.ClientTimeout,
        clock: Callable[[], datetime],
    ) -> None:
        self._session, self._url, self._timeout, self._clock = session, auth_url, timeout, clock
        self._body = wire.encoder.encode(request)
        self._token: str | None = None
        self._renew_at = datetime.min
        # One fetch at a time: requests that find no token wait for the one being fetched.
        self._lock = asyncio.Lock()
        self.fetches = 0

    async def token(self) -> str:
        """A live token; raises VendorUnavailable when the token endpoint does not give one."""
        async with self._lock:
            if self._token is None or self._clock() >= self._renew_at:
                body = await read(
                    self._session,
                    self._url,
                    error_code,
                    self._clock,
                    within=self._timeout,
                    method="POST",
                    data=self._body,
                    headers={"Content-Type": "application/json", "Accept": "application/json"},
                )
                answer = decode_read(wire.token_decoder, body)
                self.fetches += 1
                self._token = answer.access_token
                lifetime = timedelta(seconds=answer.expires_in)
                self._renew_at = self._clock() + max(lifetime - RENEW_BEFORE, lifetime / 2)
            return self._token

    def refused(self, token: str) -> None:
        """Reloadly refused `token` (expired, revoked): the next request fetches another."""
        if self._token == token:
            self._token = None
