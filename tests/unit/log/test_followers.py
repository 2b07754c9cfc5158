"""A follower waits out a lost database with growing pauses, not a fixed poll."""

import asyncio
import itertools

from ledger.log import followers
from ledger.log.followers import RECONNECT_CAP_S, follow_with_lease, reconnect_delay


def test_reconnect_pauses_double_from_the_poll_interval_up_to_the_cap():
    assert [reconnect_delay(n, 1.0) for n in (1, 2, 3, 4)] == [1.0, 2.0, 4.0, 8.0]
    assert reconnect_delay(6, 1.0) == RECONNECT_CAP_S
    assert reconnect_delay(10_000, 1.0) == RECONNECT_CAP_S


async def test_a_follower_facing_a_database_that_is_away_backs_off_and_stops_promptly(
    monkeypatch,
):
    attempts = []

    async def refused(dsn):
        attempts.append(asyncio.get_running_loop().time())
        raise ConnectionRefusedError("the database is restarting")

    monkeypatch.setattr(followers, "connect", refused)
    stop = asyncio.Event()

    async def never(conn):
        raise AssertionError("no step runs without a connection")

    task = asyncio.create_task(follow_with_lease("postgresql://x", "f", stop, 0.01, never))
    await asyncio.sleep(0.6)
    stop.set()
    await asyncio.wait_for(task, 1)  # a follower waiting to reconnect stops at once
    # A fixed 10 ms pause would have tried about 60 times; doubling gives about 6.
    assert 3 <= len(attempts) <= 10
    gaps = [b - a for a, b in itertools.pairwise(attempts)]
    assert gaps[-1] >= 4 * gaps[0]
