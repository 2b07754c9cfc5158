"""Encryption of card secrets at rest (AES-256-GCM, the stream id as associated data)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from pathlib import Path

import asyncpg
import msgspec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ledger.config import read_or_create_private
from ledger.vendors.base import CardSecret

KEY_FILE = "secrets.key"
# 96-bit nonces are GCM's native size; random ones are safe far beyond our volume (2^32 cards).
NONCE_BYTES = 12


class SecretsKeyError(ValueError):
    """SECRETS_KEY is not a base64-encoded 32-byte key."""


def load_or_create_key(configured: str | None, data_dir: Path) -> bytes:
    """The configured key, or (embedded default) one generated once into a 0600 file."""
    if configured:
        try:
            key = base64.b64decode(configured, validate=True)
        except binascii.Error:
            raise SecretsKeyError("SECRETS_KEY must be base64") from None
        if len(key) != 32:
            raise SecretsKeyError("SECRETS_KEY must decode to 32 bytes (AES-256)")
        return key
    encoded = read_or_create_private(
        data_dir / KEY_FILE, lambda: base64.b64encode(AESGCM.generate_key(bit_length=256)).decode()
    )
    return base64.b64decode(encoded)


# The row inserted, or the one that was there first. Both halves read one snapshot, so exactly
# one of them answers, unless another writer's row committed after it was taken (then none).
_STORE = """
    WITH new AS (
        INSERT INTO card_secrets (stream_id, key_id, nonce, ciphertext)
        VALUES ($1, $2, $3, $4) ON CONFLICT (stream_id) DO NOTHING
        RETURNING nonce, ciphertext)
    SELECT nonce, ciphertext FROM new
    UNION ALL
    SELECT nonce, ciphertext FROM card_secrets
    WHERE stream_id = $1 AND NOT EXISTS (SELECT 1 FROM new)"""


class CardVault:
    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)
        # Names the key a ciphertext was made with, so a future rotation can tell them apart.
        self.key_id = hashlib.sha256(key).hexdigest()[:16]

    def encrypt(self, bound_to: str, plaintext: bytes) -> tuple[bytes, bytes]:
        """(nonce, ciphertext) of any secret, bound to a name (the AEAD's associated data): a
        ciphertext copied onto another row does not decrypt."""
        nonce = os.urandom(NONCE_BYTES)
        return nonce, self._aead.encrypt(nonce, plaintext, bound_to.encode())

    def decrypt(self, bound_to: str, nonce: bytes, ciphertext: bytes) -> bytes:
        return self._aead.decrypt(nonce, ciphertext, bound_to.encode())

    def seal(self, stream_id: str, card: CardSecret) -> tuple[bytes, bytes]:
        return self.encrypt(stream_id, msgspec.json.encode(card))

    def open(self, stream_id: str, nonce: bytes, ciphertext: bytes) -> CardSecret:
        return msgspec.json.decode(self.decrypt(stream_id, nonce, ciphertext), type=CardSecret)

    async def store(
        self, conn: asyncpg.Connection | asyncpg.Pool, stream_id: str, card: CardSecret
    ) -> CardSecret:
        """Keep the first card the vendor gave for an order (a replayed answer changes nothing);
        answer with the card kept, so nobody need read it back to show it."""
        nonce, ciphertext = self.seal(stream_id, card)
        row = await conn.fetchrow(_STORE, stream_id, self.key_id, nonce, ciphertext)
        if row is None:
            # Another transaction stored one after this statement's snapshot was taken.
            kept = await self.load(conn, stream_id)
            assert kept is not None  # its insert is what made ours do nothing
            return kept
        if row["nonce"] == nonce:
            return card
        return self.open(stream_id, row["nonce"], row["ciphertext"])

    async def load(
        self, conn: asyncpg.Connection | asyncpg.Pool, stream_id: str
    ) -> CardSecret | None:
        row = await conn.fetchrow(
            "SELECT nonce, ciphertext FROM card_secrets WHERE stream_id = $1", stream_id
        )
        return None if row is None else self.open(stream_id, row["nonce"], row["ciphertext"])
