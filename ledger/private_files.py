"""Secrets generated on first run into DATA_DIR: created once, readable by the owner only."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path


def read_or_create_private(path: Path, generate: Callable[[], str]) -> str:
    """The file's content, writing `generate()` first if the file does not exist yet.

    O_CREAT|O_EXCL with mode 0600: never readable by others, even for a moment, and two
    processes starting at once agree on one value (the loser reads the winner's file).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(generate())
    return path.read_text().strip()
