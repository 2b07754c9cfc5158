"""Webhook signature schemes, pure: no I/O, no clock (the caller passes `now`).

Both schemes sign the raw request bytes exactly as received. Re-serialised JSON is never signed
or verified: any change in spacing or key order would break a genuine signature, and verifying a
parsed-and-dumped body would vouch for bytes the vendor never sent.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from typing import Literal

import msgspec

Check = Literal[
    "missing_header", "malformed_header", "bad_secret", "stale_timestamp", "signature_mismatch"
]

# Standard Webhooks: the secret prefix, and the key sizes the specification allows (192-512 bits).
WHSEC_PREFIX = "whsec_"
MIN_KEY_BYTES, MAX_KEY_BYTES = 24, 64
# The specification's default replay window, applied before and after `now` (clock skew).
DEFAULT_TOLERANCE_S = 300
# Unix seconds stay below 12 digits for millennia; a bound stops a huge number from costing
# anything before it is rejected.
MAX_TIMESTAMP_DIGITS = 12
# Ids are signed as text, so they are held to printable ASCII: one encoding, no whitespace that
# a proxy might fold, and a length no real vendor exceeds.
MAX_ID_LENGTH = 256
DEFAULT_HEX_HEADER = "X-Signature-256"
HEX_PREFIX = "sha256="
SHA256_BYTES = 32
# Exactly 64 hex digits: bytes.fromhex alone would also accept embedded spaces.
HEX_DIGEST = re.compile(r"[0-9a-fA-F]{64}")


class SignatureError(Exception):
    """Why a delivery was refused. Messages never quote expected signatures or secrets."""

    def __init__(self, check: Check, message: str = "") -> None:
        super().__init__(message or check)
        self.check: Check = check


def parse_whsec(secret: str) -> bytes:
    """The HMAC key inside a `whsec_<base64>` secret."""
    if not secret.startswith(WHSEC_PREFIX):
        raise SignatureError("bad_secret", f"secret must start with {WHSEC_PREFIX}")
    try:
        key = base64.b64decode(secret.removeprefix(WHSEC_PREFIX), validate=True)
    except binascii.Error:
        raise SignatureError("bad_secret", "secret is not valid base64") from None
    if not MIN_KEY_BYTES <= len(key) <= MAX_KEY_BYTES:
        raise SignatureError("bad_secret", f"key must be {MIN_KEY_BYTES}-{MAX_KEY_BYTES} bytes")
    return key


def _signed_content(msg_id: str, timestamp: str, body: bytes) -> bytes:
    return f"{msg_id}.{timestamp}.".encode() + body


def _mac(key: bytes, content: bytes) -> bytes:
    return hmac.new(key, content, hashlib.sha256).digest()


def sign_standard(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` header value (`v1,<base64>`) for one delivery."""
    mac = _mac(parse_whsec(secret), _signed_content(msg_id, str(timestamp), body))
    return "v1," + base64.b64encode(mac).decode()


def sign_hex(secret: bytes, body: bytes) -> str:
    """The bare hex digest; senders may prefix it with `sha256=`, and verify_hex takes both."""
    return hmac.new(secret, body, hashlib.sha256).hexdigest()


def _header(headers: Mapping[str, str], name: str) -> str:
    # A CIMultiDict answers any case and may hold a header twice; a plain dict is expected to
    # be lower-cased, as aiohttp and most frameworks hand them over.
    getall = getattr(headers, "getall", None)
    if getall is not None:
        values = list(getall(name, []))
    else:
        value = headers.get(name, headers.get(name.lower()))
        values = [] if value is None else [value]
    if not values:
        raise SignatureError("missing_header", f"no {name} header")
    if len(values) > 1:
        # Two values means two different parties may have set it: never guess which one counts.
        raise SignatureError("malformed_header", f"{name} sent more than once")
    return values[0]


def _printable(text: str) -> bool:
    return text.isascii() and text.isprintable() and " " not in text


def _v1_signatures(header: str) -> list[bytes]:
    found = []
    for entry in header.split():
        version, sep, value = entry.partition(",")
        if not sep:
            raise SignatureError("malformed_header", "signature entries must be version,value")
        if version != "v1":
            continue  # other versions (v1a is asymmetric) are for other verifiers, per the spec
        try:
            mac = base64.b64decode(value, validate=True)
        except binascii.Error:
            raise SignatureError("malformed_header", "v1 signature is not base64") from None
        if len(mac) != SHA256_BYTES:
            raise SignatureError("malformed_header", "v1 signature is not 32 bytes")
        found.append(mac)
    if not found:
        raise SignatureError("malformed_header", "no v1 signature in webhook-signature")
    return found


def _has(headers: Mapping[str, str], name: str) -> bool:
    getall = getattr(headers, "getall", None)
    if getall is not None:
        return bool(getall(name, []))
    return name in headers or name.lower() in headers


def _header_family(headers: Mapping[str, str]) -> str:
    """`webhook` (Standard Webhooks) or `svix` (Svix, Runa): the same scheme under two names,
    both accepted as the official libraries do. One family is read whole, never mixed."""
    return "svix" if not _has(headers, "webhook-id") and _has(headers, "svix-id") else "webhook"


def verify_standard(
    headers: Mapping[str, str],
    body: bytes,
    secrets: Sequence[str],
    now: int,
    tolerance_s: int = DEFAULT_TOLERANCE_S,
) -> str:
    """Verify a Standard Webhooks delivery (or Svix's `svix-*` headers) and return its id
    (the dedupe key).

    Any one of `secrets` may match, so a rotation accepts old and new secrets side by side. The
    signature is checked before the timestamp, so `stale_timestamp` only ever describes a
    genuine delivery (a replay or a skewed clock), never a forgery.
    """
    keys = [parse_whsec(s) for s in secrets]
    if not keys:
        raise SignatureError("bad_secret", "no secret configured")
    prefix = _header_family(headers)
    msg_id = _header(headers, f"{prefix}-id")
    timestamp = _header(headers, f"{prefix}-timestamp")
    given = _v1_signatures(_header(headers, f"{prefix}-signature"))
    if not msg_id or len(msg_id) > MAX_ID_LENGTH or not _printable(msg_id):
        raise SignatureError("malformed_header", "webhook-id must be printable ASCII")
    if not (timestamp.isascii() and timestamp.isdigit()) or len(timestamp) > MAX_TIMESTAMP_DIGITS:
        raise SignatureError("malformed_header", "webhook-timestamp must be unix seconds")
    content = _signed_content(msg_id, timestamp, body)
    expected = [_mac(key, content) for key in keys]
    # Every pair is compared, with no early exit, so timing says nothing about which matched.
    matched = [hmac.compare_digest(e, g) for e in expected for g in given]
    if not any(matched):
        raise SignatureError("signature_mismatch", "no signature matches any configured secret")
    if abs(now - int(timestamp)) > tolerance_s:
        raise SignatureError("stale_timestamp", f"timestamp is more than {tolerance_s}s from now")
    return msg_id


def _given_mac(value: str, header_name: str, encoding: Literal["hex", "base64"]) -> bytes:
    if encoding == "hex":
        value = value.removeprefix(HEX_PREFIX)
        if not HEX_DIGEST.fullmatch(value):
            raise SignatureError("malformed_header", f"{header_name} is not a hex SHA-256 digest")
        return bytes.fromhex(value)
    try:
        mac = base64.b64decode(value, validate=True)
    except binascii.Error:
        raise SignatureError("malformed_header", f"{header_name} is not base64") from None
    if len(mac) != SHA256_BYTES:
        raise SignatureError("malformed_header", f"{header_name} is not a SHA-256 digest")
    return mac


def verify_hex(
    headers: Mapping[str, str],
    body: bytes,
    secrets: Sequence[bytes | str],
    header_name: str = DEFAULT_HEX_HEADER,
    encoding: Literal["hex", "base64"] = "hex",
) -> None:
    """Verify an HMAC-SHA256 of the raw body, given in hex (optionally `sha256=`-prefixed) or
    base64. The scheme has no timestamp, so replays must be caught by deduplication."""
    keys = [s.encode() if isinstance(s, str) else s for s in secrets]
    if not keys or not all(keys):
        raise SignatureError("bad_secret", "secrets must be non-empty")
    given = _given_mac(_header(headers, header_name), header_name, encoding)
    matched = [hmac.compare_digest(_mac(key, body), given) for key in keys]
    if not any(matched):
        raise SignatureError("signature_mismatch", "no signature matches any configured secret")


def verify_body_timestamp(
    headers: Mapping[str, str],
    body: bytes,
    secrets: Sequence[bytes | str],
    now: int,
    tolerance_s: int,
    signature_header: str,
    timestamp_header: str,
) -> None:
    """Verify a hex HMAC-SHA256 of `body:timestamp` (Reloadly's scheme, as integrators
    implement it), the timestamp in its own header, in seconds or milliseconds."""
    keys = [s.encode() if isinstance(s, str) else s for s in secrets]
    if not keys or not all(keys):
        raise SignatureError("bad_secret", "secrets must be non-empty")
    timestamp = _header(headers, timestamp_header)
    # Milliseconds have 13 digits: one more than the bound on seconds.
    if (
        not (timestamp.isascii() and timestamp.isdigit())
        or len(timestamp) > MAX_TIMESTAMP_DIGITS + 1
    ):
        raise SignatureError("malformed_header", f"{timestamp_header} must be unix time")
    value = _header(headers, signature_header).removeprefix(HEX_PREFIX)
    if not HEX_DIGEST.fullmatch(value):
        raise SignatureError("malformed_header", f"{signature_header} is not a hex SHA-256 digest")
    content, given = body + b":" + timestamp.encode(), bytes.fromhex(value)
    matched = [hmac.compare_digest(_mac(key, content), given) for key in keys]
    if not any(matched):
        raise SignatureError("signature_mismatch", "no signature matches any configured secret")
    # Unix seconds have 10 digits until the year 2286; milliseconds have 13.
    seconds = int(timestamp) // 1000 if len(timestamp) >= 13 else int(timestamp)
    if abs(now - seconds) > tolerance_s:
        raise SignatureError("stale_timestamp", f"timestamp is more than {tolerance_s}s from now")


class WebhookConfig(msgspec.Struct, frozen=True):
    scheme: Literal["standard", "hex", "base64", "body_timestamp"]
    # Several secrets are live during a rotation; any one of them may sign.
    secrets: tuple[str, ...]
    header: str = "X-Signature-256"
    tolerance_s: int = 300
    # The body_timestamp scheme's timestamp header (the signature's is `header`).
    timestamp_header: str = ""
    # Whose bodies these are (ledger.vendors.registry.WEBHOOK_PARSERS reads them).
    dialect: str = "sandbox"


def verify_webhook(
    config: WebhookConfig, headers: Mapping[str, str], body: bytes, now: int
) -> str | None:
    """Check the signature over the raw bytes; return the header's webhook id if it has one."""
    if config.scheme == "standard":
        return verify_standard(headers, body, config.secrets, now, config.tolerance_s)
    if config.scheme == "body_timestamp":
        verify_body_timestamp(
            headers, body, config.secrets, now, config.tolerance_s, config.header,
            config.timestamp_header,
        )  # fmt: skip
        return None
    verify_hex(
        headers,
        body,
        config.secrets,
        config.header,
        "base64" if config.scheme == "base64" else "hex",
    )
    return None
