"""The hash chain and seals catch any change to stored events, even by the table owner."""

import asyncio

from ledger.log import seals, store
from ledger.log.events import OrderFailed
from tests.factories import T0, order_requested


async def _log(pool) -> None:
    for i in range(5):
        failed = OrderFailed(reason="declined", source="vendor", failed_at=T0)
        await store.append(pool, f"order:c:k{i}", [order_requested(f"k{i}"), failed], 0)


async def _as_attacker(conn, statement: str, *args) -> None:
    """An owner who disables the append-only triggers first."""
    await conn.execute("ALTER TABLE events DISABLE TRIGGER events_no_update_delete")
    await conn.execute(statement, *args)
    await conn.execute("ALTER TABLE events ENABLE ALWAYS TRIGGER events_no_update_delete")


async def test_the_database_and_python_agree_on_every_link(pool):
    await _log(pool)
    rows = await pool.fetch("SELECT * FROM events ORDER BY stream_id, version")
    prev = seals.GENESIS
    for row in rows:
        prev = seals.GENESIS if row["version"] == 1 else prev
        assert (
            seals.link_hash(prev, row["stream_id"], row["version"], row["type"], row["data"])
            == row["hash"]
        )
        prev = row["hash"]


async def test_a_clean_log_verifies(pool):
    await _log(pool)
    async with pool.acquire() as conn:
        # A seal covers what is readable now; a transaction elsewhere on the server can hold
        # the snapshot xmin back for a moment, so seal until all ten events are covered.
        sealed = 0
        for _ in range(100):
            sealed += await seals.seal(conn)
            if sealed == 10:
                break
            await asyncio.sleep(0.05)
        assert sealed == 10
        assert await seals.seal(conn) == 0
        report = await seals.verify(conn)
    assert report.ok and report.events == 10 and report.streams == 5 and report.seals >= 1


async def test_one_altered_byte_is_named_as_the_first_bad_event(pool):
    await _log(pool)
    async with pool.acquire() as conn:
        await seals.seal(conn)
        target = await conn.fetchrow(
            "SELECT position, data FROM events WHERE stream_id = 'order:c:k2' AND version = 2"
        )
        altered = target["data"].replace(b"declined", b"declinee")
        await _as_attacker(
            conn, "UPDATE events SET data = $1 WHERE position = $2", altered, target["position"]
        )
        report = await seals.verify(conn)
    assert not report.ok
    assert isinstance(report.problem, seals.Problem)
    assert (report.problem.stream_id, report.problem.version) == ("order:c:k2", 2)
    assert report.problem.position == target["position"]


async def test_a_deleted_event_is_reported_as_missing(pool):
    await _log(pool)
    async with pool.acquire() as conn:
        await _as_attacker(
            conn, "DELETE FROM events WHERE stream_id = 'order:c:k1' AND version = 1"
        )
        report = await seals.verify(conn)
    assert report.problem.stream_id == "order:c:k1"
    assert "missing" in report.problem.reason


async def test_a_rewritten_chain_is_caught_by_the_seal(pool):
    await _log(pool)
    async with pool.acquire() as conn:
        await seals.seal(conn)
        row = await conn.fetchrow(
            "SELECT * FROM events WHERE stream_id = 'order:c:k3' AND version = 1"
        )
        forged = row["data"].replace(b"2500", b"9500")
        new_hash = seals.link_hash(seals.GENESIS, row["stream_id"], 1, row["type"], forged)
        second = await conn.fetchrow(
            "SELECT * FROM events WHERE stream_id = 'order:c:k3' AND version = 2"
        )
        second_hash = seals.link_hash(new_hash, row["stream_id"], 2, second["type"], second["data"])
        await _as_attacker(
            conn,
            "UPDATE events SET data = $1, hash = $2 WHERE position = $3",
            forged,
            new_hash,
            row["position"],
        )
        await _as_attacker(
            conn, "UPDATE events SET hash = $1 WHERE position = $2", second_hash, second["position"]
        )
        report = await seals.verify(conn)
    assert isinstance(report.problem, str) and "seal 1" in report.problem


async def test_verify_reports_its_progress_against_the_log_it_walks(pool):
    await _log(pool)
    told: list[tuple[int, int]] = []
    async with pool.acquire() as conn:
        report = await seals.verify(conn, lambda done, total: told.append((done, total)))
    assert report.ok and told == [(n, 10) for n in range(1, 11)]
