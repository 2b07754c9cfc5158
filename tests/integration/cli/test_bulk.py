"""`run.py bulk-upload FILE --client NAME [--partial]`: same use case, printed for a person."""

import argparse
import os
from pathlib import Path

import pytest

from ledger.auth import create_key
from ledger.cli.bulk import add_bulk_parser, cmd_bulk_upload
from ledger.config import Settings
from tests.cli import run_cli
from tests.harness import TEST_SECRETS_KEY

GOOD = "cust-1,amazon-us,25.00,USD\ncust-2,amazon-us,5,EUR\n"


def args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="run.py")
    add_bulk_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["bulk-upload", *argv])


@pytest.fixture
async def settings(pool, database_url, tmp_path) -> Settings:
    async with pool.acquire() as conn:
        await create_key(conn, name="acme", scopes=["orders:write"])
    return Settings(database_url=database_url, data_dir=tmp_path, secrets_key=TEST_SECRETS_KEY)


def write(tmp_path: Path, body: str) -> str:
    path = tmp_path / "orders.csv"
    path.write_text("customer_id,brand_id,amount,currency\n" + body)
    return str(path)


async def test_a_good_file_is_recorded_and_summarised(settings, pool, tmp_path, capsys):
    assert await cmd_bulk_upload(settings, args(write(tmp_path, GOOD), "--client", "acme")) == 0
    out = capsys.readouterr().out
    assert "2 rows: 2 accepted, 0 bad rows skipped; 2 new orders" in out
    assert await pool.fetchval("SELECT count(*) FROM events WHERE type = 'OrderRequested'") == 2


async def test_a_file_with_bad_rows_prints_each_and_exits_1_ordering_nothing(
    settings, pool, tmp_path, capsys
):
    path = write(tmp_path, GOOD + "cust-3,amazon-us,1.234,USD\n,amazon-us,1,USD\n")
    assert await cmd_bulk_upload(settings, args(path, "--client", "acme")) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "row 4, column amount: USD amounts have at most 2 decimal places; got '1.234'"
    assert out[1] == "row 5, column customer_id: is empty"
    assert out[2].startswith("file refused: 2 problem(s); nothing was ordered")
    assert await pool.fetchval("SELECT count(*) FROM events") == 0


async def test_partial_orders_the_valid_rows_and_still_names_the_bad_ones(
    settings, pool, tmp_path, capsys
):
    path = write(tmp_path, GOOD + "cust-3,amazon-us,1.234,USD\n")
    assert await cmd_bulk_upload(settings, args(path, "--client", "acme", "--partial")) == 0
    out = capsys.readouterr().out
    assert "row 4, column amount:" in out and "2 accepted, 1 bad rows skipped" in out
    assert await pool.fetchval("SELECT count(*) FROM events WHERE type = 'OrderRequested'") == 2


async def test_the_same_file_again_says_so_and_orders_nothing(settings, pool, tmp_path, capsys):
    path = write(tmp_path, GOOD)
    await cmd_bulk_upload(settings, args(path, "--client", "acme"))
    assert await cmd_bulk_upload(settings, args(path, "--client", "acme")) == 0
    out = capsys.readouterr().out
    assert "uploaded before: nothing was ordered twice" in out and "0 new orders" in out
    assert await pool.fetchval("SELECT count(*) FROM events WHERE type = 'OrderRequested'") == 2


async def test_a_client_without_an_api_key_is_refused_so_a_typo_orders_nothing(
    settings, pool, tmp_path, capsys
):
    assert await cmd_bulk_upload(settings, args(write(tmp_path, GOOD), "--client", "acne")) == 2
    assert "no active API key for client 'acne'" in capsys.readouterr().err
    assert await pool.fetchval("SELECT count(*) FROM events") == 0


async def test_limits_and_unreadable_files_are_refused_with_a_message(settings, tmp_path, capsys):
    small = Settings(database_url=settings.database_url, bulk_max_rows=1)
    assert await cmd_bulk_upload(small, args(write(tmp_path, GOOD), "--client", "acme")) == 1
    assert "more than 1 rows" in capsys.readouterr().err
    missing = str(tmp_path / "nope.csv")
    assert await cmd_bulk_upload(settings, args(missing, "--client", "acme")) == 2
    assert "cannot read" in capsys.readouterr().err


async def test_run_py_bulk_upload_runs_as_a_script(settings, tmp_path, database_url):
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "DATA_DIR": str(tmp_path),
        "SECRETS_KEY": TEST_SECRETS_KEY,
    }
    path = write(tmp_path, GOOD + "cust-3,amazon-us,-1,USD\n")
    command = ["bulk-upload", path, "--client", "acme"]
    refused = run_cli(*command, env=env)
    assert refused.returncode == 1
    assert "row 4, column amount: amount must be positive" in refused.stdout
    accepted = run_cli(*command, "--partial", env=env)
    assert accepted.returncode == 0, accepted.stderr
    assert accepted.stdout.splitlines()[-2].startswith("3 rows: 2 accepted")
