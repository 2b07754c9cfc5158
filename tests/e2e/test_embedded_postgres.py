"""The path a new user takes: no DATABASE_URL, so run.py starts an embedded PostgreSQL."""

import subprocess
from pathlib import Path

from tests.cli import run_cli, without_database_url


def run(args: list[str], data_dir: Path) -> subprocess.CompletedProcess:
    return run_cli(*args, env=without_database_url() | {"DATA_DIR": str(data_dir)})


def test_without_database_url_the_commands_use_an_embedded_postgresql(tmp_path):
    migrated = run(["migrate"], tmp_path)
    assert migrated.returncode == 0, migrated.stderr
    assert "0001_events.sql" in migrated.stdout
    assert (tmp_path / "pg" / "PG_VERSION").exists()
    verified = run(["verify"], tmp_path)
    assert verified.returncode == 0, verified.stderr
    assert verified.stdout.startswith("ok: 0 events")
