"""A command whose settings cannot work says which setting, on one line, and exits 2 (bad usage
or configuration, docs/operations.md): a VENDORS_FILE that does not validate, a database URL
that cannot be parsed, a login or database the server refuses. Before, these exited 1, printed
a traceback, or (serve) waited forever for a database that a typo kept away.
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from ledger.database_url import with_login
from tests.cli import run_cli
from tests.e2e.orders.test_crash_recovery import env_for

EXIT_BAD_CONFIGURATION = 2
WINDOW = ("--from", "2026-11-30T00:00:00Z", "--to", "2026-12-01T00:00:00Z")


def _one_line(done: subprocess.CompletedProcess, code: int, *named: str) -> str:
    """The one line the command printed on stderr, naming each of `named`; no traceback."""
    assert done.returncode == code, (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr, done.stderr
    (line,) = done.stderr.strip().splitlines()
    for name in named:
        assert name in line, line
    return line


def test_a_vendors_file_that_does_not_validate_exits_2_naming_it(database_url, tmp_path):
    (tmp_path / "vendors.toml").write_text("[vendors.tango\n")
    env = env_for(database_url, tmp_path, VENDORS_FILE=str(tmp_path / "vendors.toml"))
    done = run_cli("reconcile", "--vendor", "tango", *WINDOW, env=env)
    line = _one_line(done, EXIT_BAD_CONFIGURATION, "VENDORS_FILE")
    assert line.startswith("configuration error: "), line


@pytest.mark.parametrize(
    "url",
    [
        "notaurl",
        "postgresql://postgres@127.0.0.1:99999/ledger",
        "postgresql://postgres@127.0.0.1:abc/ledger",
        "postgresql://[::1/ledger",
        "postgresql://postgres@127.0.0.1/ledger?sslmode=sometimes",
    ],
)
@pytest.mark.parametrize("command", [("verify",), ("serve",)], ids=["verify", "serve"])
def test_a_database_url_that_cannot_be_parsed_exits_2_before_anything_runs(url, command, tmp_path):
    env = env_for(url, tmp_path, PORT="0", SANDBOX_PORT="0")
    done = run_cli(*command, env=env)
    line = _one_line(done, EXIT_BAD_CONFIGURATION, "DATABASE_URL")
    assert line.startswith("configuration error: "), line


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


@pytest.mark.parametrize("refused", ["login", "database"])
def test_a_login_or_database_the_server_refuses_exits_2_naming_the_setting(
    refused, database_url, tmp_path
):
    missing = f"nosuch_{uuid.uuid4().hex[:8]}"
    url = (with_login if refused == "login" else _with_database)(database_url, missing)
    done = run_cli("verify", env=env_for(url, tmp_path))
    line = _one_line(done, EXIT_BAD_CONFIGURATION, "DATABASE_URL", missing)
    assert line.startswith("error: the database refused"), line


@pytest.fixture
async def migrator_without_createrole(
    server_url: str, empty_database_url: str
) -> AsyncIterator[tuple[str, str]]:
    """(a login that owns an empty database but may not create roles, a service role name)."""
    suffix = uuid.uuid4().hex[:8]
    login, role = f"owner_{suffix}", f"svc_{suffix}"
    name = urlsplit(empty_database_url).path.lstrip("/")
    admin = await asyncpg.connect(server_url)
    try:
        await admin.execute(f"CREATE ROLE {login} LOGIN NOCREATEROLE")
        await admin.execute(f'ALTER DATABASE "{name}" OWNER TO {login}')
        yield with_login(empty_database_url, login), role
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f"DROP ROLE IF EXISTS {role}")
        await admin.execute(f"DROP ROLE {login}")
    finally:
        await admin.close()


async def test_migrate_without_createrole_says_how_to_make_the_service_role_then_uses_it(
    migrator_without_createrole, server_url, tmp_path
):
    url, role = migrator_without_createrole
    env = env_for(url, tmp_path, SERVICE_ROLE=role)
    refused = run_cli("migrate", env=env)
    _one_line(refused, 1, f"SERVICE_ROLE {role}", f"CREATE ROLE {role} NOLOGIN", "CREATEROLE")

    # What the message asks a DBA to do, and nothing more: the same command then succeeds.
    login = urlsplit(url).username
    admin = await asyncpg.connect(server_url)
    try:
        await admin.execute(f"CREATE ROLE {role} NOLOGIN")
        await admin.execute(f"GRANT {role} TO {login}")
    finally:
        await admin.close()
    done = run_cli("migrate", env=env)
    assert done.returncode == 0, done.stderr
    assert f"service role {role}" in done.stdout
