"""The path a new user takes: no DATABASE_URL, so run.py starts an embedded PostgreSQL."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run(args: list[str], data_dir: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "TEST_DATABASE_URL"}}
    env["DATA_DIR"] = str(data_dir)
    return subprocess.run(
        [sys.executable, "run.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_without_database_url_the_commands_use_an_embedded_postgresql(tmp_path):
    migrated = run(["migrate"], tmp_path)
    assert migrated.returncode == 0, migrated.stderr
    assert "0001_events.sql" in migrated.stdout
    assert (tmp_path / "pg" / "PG_VERSION").exists()
    verified = run(["verify"], tmp_path)
    assert verified.returncode == 0, verified.stderr
    assert verified.stdout.startswith("ok: 0 events")
