"""Publishing each new ledger digest outside PostgreSQL, so a rewrite is caught later.

DIGEST_PUBLISH names where: a file path (one JSON line appended per new digest, fsynced; the
file `run.py verify --digest FILE` reads), or an http(s) URL that receives each digest as a JSON
POST (a write-once store, an auditor's endpoint). Publishing is at least once: a digest that
could not be published is retried with the next seal, and the latest one covers all before it.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp

from ledger.log.digests import Digest, encode_digest

# A store that takes longer than this to accept one small JSON body is down; the next seal
# retries it.
PUBLISH_TIMEOUT_S = 10.0


class PublishFailed(Exception):
    """The digest did not reach its destination; it is published again with the next seal."""


def _append_line(path: Path, line: str) -> None:
    with path.open("a", encoding="utf-8") as file:
        file.write(line + "\n")
        file.flush()
        os.fsync(file.fileno())


class DigestPublisher:
    def __init__(self, target: str, session: aiohttp.ClientSession | None = None) -> None:
        self.target, self._session = target, session
        self.last: Digest | None = None

    @property
    def _shown(self) -> str:
        """The target as logs may show it: a presigned URL's query and credentials left out."""
        parts = urlsplit(self.target)
        return f"{parts.scheme}://{parts.hostname}{parts.path}" if self.is_url else self.target

    @property
    def is_url(self) -> bool:
        return self.target.startswith(("http://", "https://"))

    async def publish(self, digest: Digest) -> bool:
        """Publish digest unless it is the one published last; True when it was sent now."""
        if digest == self.last:
            return False
        line = encode_digest(digest)
        try:
            if self.is_url:
                await self._post(line)
            else:
                await asyncio.to_thread(_append_line, Path(self.target), line)
        except (OSError, aiohttp.ClientError, TimeoutError) as exc:
            # Not str(exc): aiohttp's errors quote the full URL, query and all.
            status = getattr(exc, "status", None)
            reason = f"{type(exc).__name__}" + (f" {status}" if status else "")
            raise PublishFailed(f"{self._shown}: {reason}") from exc
        self.last = digest
        return True

    async def _post(self, line: str) -> None:
        assert self._session is not None, "a URL target needs a client session"
        timeout = aiohttp.ClientTimeout(total=PUBLISH_TIMEOUT_S)
        headers = {"Content-Type": "application/json"}
        async with self._session.post(
            self.target, data=line, headers=headers, timeout=timeout
        ) as response:
            if response.status >= 300:
                raise aiohttp.ClientResponseError(
                    response.request_info, (), status=response.status, message=response.reason
                )
