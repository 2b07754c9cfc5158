"""The API key cache: a key proven moments ago is trusted without a query, never past its
expiry, and never again on this node once revoked or rotated here."""

import time
from datetime import UTC, datetime, timedelta

from ledger.auth import Principal
from ledger.http.auth import KeyCache

HEADER = "Bearer gcl_0123456789abcdef_" + "k" * 43
PRINCIPAL = Principal("acme", "0123456789abcdef", "test", frozenset({"orders:write"}))


def test_a_key_read_before_it_was_revoked_here_is_not_cached_after_the_revocation():
    cache = KeyCache(ttl_s=60)
    read_at = time.monotonic()  # the request reads the key; meanwhile, the key is revoked
    cache.forget(PRINCIPAL.key_id)
    cache.put(HEADER, PRINCIPAL, None, read_at)
    assert cache.get(HEADER) is None


def test_a_key_read_after_a_revocation_of_another_is_cached():
    cache = KeyCache(ttl_s=60)
    cache.forget("another0key0id00")
    cache.put(HEADER, PRINCIPAL, None, time.monotonic())
    assert cache.get(HEADER) == PRINCIPAL


def test_a_cached_key_goes_when_it_expires_or_its_time_is_up():
    expired = KeyCache(ttl_s=60)
    expired.put(HEADER, PRINCIPAL, datetime.now(UTC) - timedelta(seconds=1), time.monotonic())
    assert expired.get(HEADER) is None
    stale = KeyCache(ttl_s=0)
    stale.put(HEADER, PRINCIPAL, None, time.monotonic())
    assert stale.get(HEADER) is None


def test_the_cache_holds_at_most_its_size_dropping_the_oldest():
    cache = KeyCache(ttl_s=60, size=2)
    for i in range(3):
        cache.put(f"{HEADER}{i}", PRINCIPAL, None, time.monotonic())
    assert [cache.get(f"{HEADER}{i}") for i in range(3)] == [None, PRINCIPAL, PRINCIPAL]


def test_a_cached_key_ages_from_when_it_was_read_not_when_the_read_finished():
    """A read that took its time (a slow last-used update) must not stretch the bound on how
    long another node's revocation goes unseen."""
    cache = KeyCache(ttl_s=5)
    cache.put(HEADER, PRINCIPAL, None, time.monotonic() - 6)
    assert cache.get(HEADER) is None
