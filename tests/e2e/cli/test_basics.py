"""What every command line tool answers without touching a database (issue 18)."""

from __future__ import annotations

import asyncio
import json
import os
import tomllib
from pathlib import Path

from tests.cli import run_cli
from tests.e2e.orders.test_crash_recovery import env_for

PYPROJECT = Path(__file__).resolve().parents[3] / "pyproject.toml"


def test_version_prints_the_packages_version_and_exits_0():
    done = run_cli("--version", env=os.environ)
    version = tomllib.loads(PYPROJECT.read_text())["project"]["version"]
    assert done.returncode == 0 and done.stdout.strip() == f"run.py {version}"


async def test_json_results_have_a_stable_shape_on_one_line(database_url, tmp_path):
    """`--json`: the result as one JSON object on stdout's one line, for scripts."""
    env = env_for(database_url, tmp_path)

    def result(*args: str) -> dict:
        done = run_cli(*args, "--json", env=env)
        assert done.returncode == 0, done.stdout + done.stderr
        (line,) = done.stdout.splitlines()
        return json.loads(line)

    migrated = await asyncio.to_thread(result, "migrate")
    assert migrated == {"applied": [], "service_role": "ledger_service"}
    created = await asyncio.to_thread(
        result, "apikey", "create", "--name", "shop", "--scopes", "orders:write"
    )
    assert created["key"]["client_id"] == "shop" and created["api_key"].startswith("gcl_")
    listed = await asyncio.to_thread(result, "apikey", "list")
    assert [key["key_id"] for key in listed["keys"]] == [created["key"]["key_id"]]
    assert "api_key" not in json.dumps(listed), "a listing never shows a secret"
    sealed = await asyncio.to_thread(result, "seal")
    assert set(sealed) == {"sealed"}
    verified = await asyncio.to_thread(result, "verify")
    assert verified["ok"] is True and verified["problem"] is None
    rebuilt = await asyncio.to_thread(result, "rebuild", "--verify")
    assert rebuilt["ok"] and {p["projection"] for p in rebuilt["projections"]} == {
        "orders",
        "discrepancies",
        "gl",
    }


def test_every_commands_help_shows_examples_and_the_exit_codes():
    from ledger.cli.main import COMMANDS

    for command in COMMANDS:
        done = run_cli(command, "--help", env=os.environ)
        assert done.returncode == 0, done.stderr
        examples = done.stdout.split("examples:\n", 1)[1]
        assert f"run.py {command}" in examples, command
        assert "exit codes: 0 done, 1" in done.stdout
