"""What every command line tool answers without touching a database (issue 18)."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

from tests.cli import run_cli

PYPROJECT = Path(__file__).resolve().parents[3] / "pyproject.toml"


def test_version_prints_the_packages_version_and_exits_0():
    done = run_cli("--version", env=os.environ)
    version = tomllib.loads(PYPROJECT.read_text())["project"]["version"]
    assert done.returncode == 0 and done.stdout.strip() == f"run.py {version}"
