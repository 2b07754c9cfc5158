"""What an idempotency key and a merchant's identifiers may be: pure rules the API and the bulk
file share, so a key refused over HTTP is refused in a CSV row for the same reason."""

from __future__ import annotations

import re
from typing import Annotated

from msgspec import Meta

from ledger.text import END_OF_TEXT

# IETF draft-ietf-httpapi-idempotency-key-header (and Stripe's limit): printable ASCII, long
# enough for a UUID with a prefix, short enough to index.
IDEMPOTENCY_KEY = re.compile(r"[\x20-\x7e]{8,255}")
IDEMPOTENCY_KEY_RULE = "idempotency keys are 8 to 255 printable ASCII characters"

# Printable, no control characters; long enough for any merchant's ids, short enough to index.
IDENTIFIER_RULE = "must be 1 to 128 characters with no control characters"
Identifier = Annotated[
    str, Meta(min_length=1, max_length=128, pattern=rf"^[^\x00-\x1f\x7f]+{END_OF_TEXT}")
]

# Free text a person writes (a note, a description): line breaks and tabs, but no other control
# character, and never NUL, which the log cannot store (ledger/log/events.py).
PROSE_PATTERN = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"
PROSE = re.compile(PROSE_PATTERN)


def is_idempotency_key(key: str) -> bool:
    return IDEMPOTENCY_KEY.fullmatch(key) is not None
