"""What a command prints as its result: lines for a person, or with `--json` one JSON object
on one line (stable keys; times ISO 8601 in UTC), so scripts never parse prose. Errors go to
stderr either way, with the exit codes docs/operations.md lists."""

from __future__ import annotations

import argparse
from typing import Any

import msgspec

_encoder = msgspec.json.Encoder()


def add_json_flag(*parsers: argparse.ArgumentParser) -> None:
    """`--json` on each command that prints a result (on the leaf: `apikey list --json`)."""
    for parser in parsers:
        parser.add_argument("--json", action="store_true", help="print the result as one JSON line")


def emit(args: argparse.Namespace, result: Any, *lines: str) -> None:
    """The command's result: `result` as JSON with --json, else `lines` for a person."""
    if getattr(args, "json", False):
        print(_encoder.encode(result).decode())
        return
    for line in lines:
        print(line)
