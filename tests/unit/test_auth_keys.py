"""API key material: the format clients see, and the hash that is all the database keeps."""

import base64
import hashlib
import re

import pytest

from ledger.auth import SCOPES, Principal, generate_key, hash_key, validate_scopes

KEY_FORMAT = re.compile(r"gcl_(?P<id>[0-9a-f]{16})_(?P<secret>[A-Za-z0-9_-]{43})")


def test_a_generated_key_is_prefix_id_and_43_chars_of_urlsafe_base64():
    key_id, plaintext = generate_key()
    match = KEY_FORMAT.fullmatch(plaintext)
    assert match is not None
    assert match["id"] == key_id


def test_the_secret_part_decodes_to_32_random_bytes():
    _, plaintext = generate_key()
    secret = plaintext.split("_", 2)[2]
    assert len(base64.urlsafe_b64decode(secret + "=")) == 32


def test_no_two_generated_keys_or_ids_repeat():
    pairs = [generate_key() for _ in range(1000)]
    assert len({key_id for key_id, _ in pairs}) == 1000
    assert len({plaintext for _, plaintext in pairs}) == 1000


def test_the_stored_hash_is_the_32_byte_sha256_of_the_whole_key():
    _, plaintext = generate_key()
    assert hash_key(plaintext) == hashlib.sha256(plaintext.encode()).digest()
    assert len(hash_key(plaintext)) == 32


def test_keys_differing_in_one_character_hash_differently():
    _, plaintext = generate_key()
    flipped = plaintext[:-1] + ("A" if plaintext[-1] != "A" else "B")
    assert hash_key(plaintext) != hash_key(flipped)


def test_the_hash_does_not_contain_the_key():
    _, plaintext = generate_key()
    assert plaintext.encode() not in hash_key(plaintext)


def test_admin_implies_every_other_scope():
    admin = Principal("c", "k", "n", frozenset({"admin"}))
    assert all(admin.allows(scope) for scope in SCOPES)


def test_a_scope_allows_only_itself():
    writer = Principal("c", "k", "n", frozenset({"orders:write"}))
    assert writer.allows("orders:write")
    assert not writer.allows("finance:read")
    assert not writer.allows("admin")


def test_scopes_are_deduplicated_in_the_order_given():
    assert validate_scopes(["finance:read", "orders:write", "finance:read"]) == (
        "finance:read",
        "orders:write",
    )


@pytest.mark.parametrize(
    ("scopes", "message"),
    [
        (["orders:write", "orders:read"], "unknown scope 'orders:read'"),
        (["ADMIN"], "unknown scope 'ADMIN'"),
        ([], "at least one scope is required"),
    ],
)
def test_bad_scopes_are_refused_by_name(scopes, message):
    with pytest.raises(ValueError, match=message):
        validate_scopes(scopes)
