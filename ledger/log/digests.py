"""Ledger digests held outside the database: the latest seal, as one JSON line to keep.

A seal lives in the database it protects, so whoever can rewrite events (an owner with the
triggers off) can rewrite the seals after them. A digest copied elsewhere (an auditor's file, a
write-once store) cannot be: `check_digests` recomputes the log's seal chain from the events
themselves and compares it, at each kept digest's cursor, with what was kept.
"""

from __future__ import annotations

from datetime import datetime

import asyncpg
import msgspec

from ledger.log import seals
from ledger.log.store import CURSOR_ZERO, Cursor


class Digest(msgspec.Struct, frozen=True, kw_only=True):
    """The log as sealed up to a cursor: what an auditor keeps."""

    upto_tx_id: int
    upto_position: int
    digest: str  # hex of the seal chain's digest at the cursor
    sealed_at: datetime

    @property
    def cursor(self) -> Cursor:
        return Cursor(self.upto_tx_id, self.upto_position)


class DigestError(ValueError):
    """A kept digest that cannot be read: `where` names the line (and field)."""

    def __init__(self, where: str, reason: str) -> None:
        super().__init__(f"{where}: {reason}")


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(Digest)


def encode_digest(digest: Digest) -> str:
    return _encoder.encode(digest).decode()


def parse_digests(text: str) -> list[Digest]:
    """One digest per non-blank line (a published file is a line per seal), in order."""
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            found.append(_decoder.decode(line))
        except msgspec.DecodeError as exc:
            raise DigestError(f"line {number}", str(exc)) from None
    if not found:
        raise DigestError("input", "no digest in it")
    return found


async def current_digest(conn: asyncpg.Connection) -> Digest | None:
    """Seal what is new, then the latest seal as a digest (None for an empty log)."""
    await seals.seal(conn)
    row = await conn.fetchrow(
        "SELECT upto_tx_id, upto_position, digest, sealed_at"
        " FROM ledger_seals ORDER BY seal_id DESC LIMIT 1"
    )
    if row is None:
        return None
    return Digest(
        upto_tx_id=int(row["upto_tx_id"]),
        upto_position=row["upto_position"],
        digest=row["digest"].hex(),
        sealed_at=row["sealed_at"],
    )


async def _recomputed(conn: asyncpg.Connection) -> dict[Cursor, str]:
    """Per seal boundary: the chain's digest there, recomputed from the events."""
    after, prev, result = CURSOR_ZERO, seals.GENESIS, {}
    for row in await conn.fetch(
        "SELECT upto_tx_id, upto_position FROM ledger_seals ORDER BY seal_id"
    ):
        upto = Cursor(int(row["upto_tx_id"]), row["upto_position"])
        prev, _ = await seals.digest_range(conn, prev, after, upto)
        result[upto] = prev.hex()
        after = upto
    return result


_EVENT_AT = "SELECT EXISTS (SELECT 1 FROM events WHERE tx_id = $1::xid8 AND position = $2)"


async def check_digests(conn: asyncpg.Connection, kept: list[Digest]) -> str | None:
    """None when the log reproduces every kept digest; else the first divergence, named."""
    recomputed = await _recomputed(conn)
    last_good: Digest | None = None
    for digest in kept:
        since = (
            f"after the digest of {last_good.sealed_at.isoformat()} (which still holds)"
            if last_good
            else "from the start of the log"
        )
        found = recomputed.get(digest.cursor)
        if found is None:
            taken = digest.sealed_at.isoformat()
            where = f"cursor {tuple(digest.cursor)}, where the digest of {taken} was taken"
            if not await conn.fetchval(_EVENT_AT, digest.upto_tx_id, digest.upto_position):
                # A failover to a replica that had not received the last commits, or a restore
                # from an older backup, ends the log before a digest published from the old one.
                return (
                    f"the log has no event at {where}: history {since} up to there is missing"
                    " (a failover or restore lost committed events) or was rewritten"
                )
            return f"no seal of the log ends at {where}: the seals were rewritten ({since})"
        if found != digest.digest:
            return (
                f"the log up to cursor {tuple(digest.cursor)} digests to {found}, but the digest"
                f" of {digest.sealed_at.isoformat()} says {digest.digest}: history {since} up to"
                " there was rewritten"
            )
        last_good = digest
    return None
