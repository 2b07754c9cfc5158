"""`run.py config`: the effective settings (CONFIG_FILE, then the environment), secrets masked,
so an operator sees what a node runs with without reading its secrets."""

from __future__ import annotations

import argparse
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import msgspec

from ledger.cli.output import add_json_flag, emit
from ledger.config import Settings

MASK = "****"
# Settings that are secrets themselves, and those that are URLs which may carry a password.
_SECRETS = frozenset({"secrets_key", "sandbox_webhook_secret"})
_URLS = frozenset(
    {"database_url", "migrate_database_url", "read_database_url", "digest_publish", "sandbox_url"}
)


def add_config_parser(subparsers: argparse._SubParsersAction) -> None:
    add_json_flag(
        subparsers.add_parser(
            "config", help="print the effective settings (CONFIG_FILE, then env), secrets masked"
        )
    )


# Query parameters that say how to connect and never who may: shown as they are. Every other
# value is masked (`password=`, `sslpassword=`, a presigned URL's `X-Amz-Signature=` and
# `X-Amz-Credential=`, a `token=`): a list of what to show fails closed on a name nobody
# thought of, where a list of what to hide would show it.
_SHOWN_PARAMETERS = frozenset(
    {
        "host",
        "port",
        "dbname",
        "user",
        "sslmode",
        "target_session_attrs",
        "application_name",
        "connect_timeout",
        "options",
        "role",
        "X-Amz-Algorithm",
        "X-Amz-Date",
        "X-Amz-Expires",
        "X-Amz-SignedHeaders",
    }
)


def masked_url(url: str) -> str:
    """The URL with its password (user:pw@) and every query value that may be a credential
    masked."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if parts.password is not None:
        netloc = f"{parts.username or ''}:{MASK}@{netloc.rpartition('@')[2]}"
    query = "&".join(
        pair if pair.partition("=")[0] in _SHOWN_PARAMETERS else f"{pair.partition('=')[0]}={MASK}"
        for pair in parts.query.split("&")
        if pair
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def effective(settings: Settings) -> dict[str, object]:
    shown: dict[str, object] = {}
    for field in msgspec.structs.fields(Settings):
        value = getattr(settings, field.name)
        if value is not None and field.name in _SECRETS:
            value = MASK
        elif isinstance(value, str) and field.name in _URLS:
            value = masked_url(value)
        elif isinstance(value, Path):
            value = str(value)
        shown[field.name] = value
    return shown


async def cmd_config(settings: Settings, args: argparse.Namespace) -> int:
    shown = effective(settings)
    lines = [f"{name} = {'(unset)' if value is None else value}" for name, value in shown.items()]
    emit(args, shown, *lines)
    return 0
