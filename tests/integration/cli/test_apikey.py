"""`run.py apikey ...` as scripts use it: the new key alone on the last line, errors on stderr."""

import argparse

from ledger.auth import authenticate
from ledger.cli.apikey import add_apikey_parser, apikey_action


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="run.py")
    add_apikey_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["apikey", *argv])


async def test_create_prints_the_key_alone_on_the_last_line_and_it_authenticates(pool, capsys):
    args = _args("create", "--name", "shop", "--scopes", "orders:write, finance:read")
    async with pool.acquire() as conn:
        assert await apikey_action(conn, args) == 0
        out = capsys.readouterr().out
        key = out.rstrip("\n").splitlines()[-1]
        principal = await authenticate(conn, f"Bearer {key}")
    assert key.startswith("gcl_") and " " not in key
    assert principal.client_id == "shop"
    assert principal.scopes == frozenset({"orders:write", "finance:read"})
    assert principal.key_id in out.splitlines()[0]


async def test_create_with_a_client_sets_the_client_id(pool, capsys):
    args = _args("create", "--name", "shop-eu", "--scopes", "orders:write", "--client", "acme")
    async with pool.acquire() as conn:
        assert await apikey_action(conn, args) == 0
        key = capsys.readouterr().out.splitlines()[-1]
        assert (await authenticate(conn, f"Bearer {key}")).client_id == "acme"


async def test_an_unknown_scope_is_refused_on_stderr_with_exit_2_and_nothing_stored(pool, capsys):
    args = _args("create", "--name", "shop", "--scopes", "orders:write,orders:delete")
    async with pool.acquire() as conn:
        assert await apikey_action(conn, args) == 2
        assert await conn.fetchval("SELECT count(*) FROM api_keys") == 0
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "unknown scope 'orders:delete'" in captured.err


async def test_empty_scopes_are_refused_with_exit_2(pool, capsys):
    async with pool.acquire() as conn:
        assert await apikey_action(conn, _args("create", "--name", "shop", "--scopes", ",")) == 2
    assert "at least one scope" in capsys.readouterr().err


async def test_list_shows_keys_and_revoke_marks_them_revoked(pool, capsys):
    async with pool.acquire() as conn:
        await apikey_action(conn, _args("create", "--name", "shop", "--scopes", "admin"))
        key = capsys.readouterr().out.splitlines()[-1]
        key_id = key.split("_")[1]
        assert await apikey_action(conn, _args("revoke", key_id)) == 0
        assert f"revoked API key {key_id}" in capsys.readouterr().out
        assert await apikey_action(conn, _args("list")) == 0
    listing = capsys.readouterr().out
    row = next(line for line in listing.splitlines() if line.startswith(key_id))
    assert "admin" in row and "revoked" in row
    assert key not in listing


async def test_revoking_an_unknown_key_fails_with_exit_1(pool, capsys):
    async with pool.acquire() as conn:
        assert await apikey_action(conn, _args("revoke", "0123456789abcdef")) == 1
    assert "no API key with id '0123456789abcdef'" in capsys.readouterr().err


async def test_listing_an_empty_table_says_so(pool, capsys):
    async with pool.acquire() as conn:
        assert await apikey_action(conn, _args("list")) == 0
    assert capsys.readouterr().out == "no API keys\n"


async def test_rotate_prints_the_new_key_last_and_list_shows_the_hand_over(pool, capsys):
    async with pool.acquire() as conn:
        await apikey_action(conn, _args("create", "--name", "shop", "--scopes", "orders:write"))
        old_key = capsys.readouterr().out.splitlines()[-1]
        old_id = (await authenticate(conn, f"Bearer {old_key}")).key_id
        assert await apikey_action(conn, _args("rotate", old_id, "--overlap-hours", "2")) == 0
        out = capsys.readouterr().out
        new = await authenticate(conn, f"Bearer {out.splitlines()[-1]}")
        await authenticate(conn, f"Bearer {old_key}")  # still works during the overlap
        assert await apikey_action(conn, _args("rotate", old_id)) == 1
        assert "already rotated" in capsys.readouterr().err
        assert await apikey_action(conn, _args("list")) == 0
        listed = capsys.readouterr().out
    assert new.client_id == "shop" and f"replacing {old_id}" in out
    assert f"replaced by {new.key_id}" in listed and "expires " in listed


async def test_create_with_an_expiry_needs_an_offset(pool, capsys):
    naive = _args("create", "--name", "t", "--scopes", "admin", "--expires", "2030-01-01T00:00")
    async with pool.acquire() as conn:
        assert await apikey_action(conn, naive) == 2
    assert "UTC offset" in capsys.readouterr().err
