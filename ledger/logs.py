"""structlog configured once: JSON when not a TTY, context from contextvars, secrets redacted."""

from __future__ import annotations

import functools
import logging
import re
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any

import structlog

# Keys whose values are secrets or card data, matched at any depth of a log line (a headers
# dict, a request body) and case-insensitively. Exact names for short words that would match
# too much as parts ("code" in "error_code" is not a card code); parts for the rest.
REDACTED_KEYS = frozenset(
    {"card", "code", "pin", "url", "cvv", "cvc", "card_number", "card_code", "pin_code"}
)
REDACTED_KEY_PARTS = (
    "authorization", "secret", "token", "password", "passwd", "api_key", "apikey", "cookie",
    "signature", "credential", "private_key", "redeem", "redemption",
)  # fmt: skip
# Values that are secrets whatever their key: our API keys, webhook secrets, bearer tokens.
SECRET_VALUES = re.compile(
    r"gcl_[0-9a-f]{16}_[A-Za-z0-9_-]{20,}|whsec_[A-Za-z0-9+/=]{8,}|(?i:bearer) \S+"
)
# Deeper than any log line we write: a bound, so a cyclic or hostile structure cannot recurse
# without end.
MAX_DEPTH = 8


# A log line's keys are few and repeat on every line: each is judged once (bounded, so keys
# made from data cannot grow the cache without end).
@functools.lru_cache(maxsize=4096)
def _secret_key(key: object) -> bool:
    name = str(key).lower().replace("-", "_")
    return name in REDACTED_KEYS or any(part in name for part in REDACTED_KEY_PARTS)


# Values that hold nothing to scrub, tested first: most of a line is these and strings, and an
# isinstance against Mapping (an ABC) costs far more than against a concrete type.
_PLAIN = (int, float, bool, type(None))


def _scrub(value: Any, depth: int) -> Any:
    if isinstance(value, str):
        return SECRET_VALUES.sub("[redacted]", value)
    if isinstance(value, _PLAIN):
        return value
    if depth > MAX_DEPTH:
        return "[too deep]"
    if isinstance(value, Mapping):
        return {
            k: "[redacted]" if _secret_key(k) else _scrub(v, depth + 1) for k, v in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [_scrub(v, depth + 1) for v in value]
    return value


def redact(_logger: Any, _name: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Every secret-looking key, at any depth, and every secret-looking string value."""
    for key in list(event):
        event[key] = "[redacted]" if _secret_key(key) else _scrub(event[key], 1)
    return event


def configure_logging(level: str = "info", *, json: bool | None = None) -> None:
    """structlog for our lines, and the same processors for the standard library's loggers
    (aiohttp's, asyncio's), so every line on stderr has one shape: JSON when it is not a TTY."""
    as_json = (not sys.stderr.isatty()) if json is None else json
    renderer: Any = (
        structlog.processors.JSONRenderer() if as_json else structlog.dev.ConsoleRenderer()
    )
    shared: list[Any] = [
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        # Tracebacks are rendered first, so their text is scrubbed like the rest.
        structlog.processors.format_exc_info,
        redact,
    ]
    threshold = logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
    structlog.configure(
        processors=[structlog.contextvars.merge_contextvars, *shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(threshold),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(threshold)
