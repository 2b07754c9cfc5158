"""The bulk batch use case against PostgreSQL: rows become pending orders, exactly once."""

import asyncio

import pytest

from ledger.bulk import batches as bulk_batches
from ledger.bulk.batches import batch_progress, route_rows, stream_of, submit_batch
from ledger.bulk.parsing import RowError, parse_file
from ledger.log import events as ev
from ledger.log import store
from ledger.log.leases import OrderLeases
from ledger.orders.fulfilment import Fulfilment
from ledger.orders.intake import Intake
from ledger.orders.vault import CardVault
from ledger.vendors.routing import NoVendorSells
from projections.checkpoints import ensure_projection
from projections.orders import OrdersProjection
from tests.factories import T0, submit_order
from tests.waiting import caught_up


def csv(rows: int, *, key_column: bool = False) -> bytes:
    header = (
        "idempotency_key,customer_id,brand_id,amount,currency"
        if key_column
        else ("customer_id,brand_id,amount,currency")
    )
    lines = [header]
    for i in range(rows):
        row = f"cust-{i},amazon-us,{i + 1}.00,USD"
        lines.append(f"camp-key-{i:04d},{row}" if key_column else row)
    return ("\n".join(lines) + "\n").encode()


def parse(data: bytes):
    return parse_file(data, max_bytes=1 << 20, max_rows=1000, max_amount_minor=10**8)


@pytest.fixture
async def intake(pool, database_url):
    leases = OrderLeases(database_url)
    fulfilment = Fulfilment(pool, {}, CardVault(bytes(32)), lambda: T0)
    yield Intake(fulfilment, leases, lambda: T0, 1.0)
    await leases.close()


def everything_to_the_sandbox(_brand_id: str) -> str:
    return "sandbox"


async def upload(
    intake, pool, data: bytes, *, client: str = "acme", partial: bool = False, route=None
):
    return await submit_batch(
        intake,
        pool,
        route_rows(parse(data), route or everything_to_the_sandbox),
        client_id=client,
        partial=partial,
        now=T0,
        metadata={"actor": "test"},
    )


async def order_events(pool, type_name: str) -> list:
    return await pool.fetch(
        "SELECT stream_id, (metadata ->> 'row')::int AS row FROM events WHERE type = $1", type_name
    )


async def test_a_batch_is_recorded_then_every_row_as_a_pending_bulk_order(intake, pool):
    outcome = await upload(intake, pool, csv(5))
    assert (outcome.created, outcome.existing, outcome.replayed) == (5, 0, False)
    [accepted] = await store.read_stream(pool, stream_of(outcome.batch_id))
    assert accepted.decode() == ev.BulkBatchAccepted(
        batch_id=outcome.batch_id,
        client_id="acme",
        file_sha256=outcome.file_sha256,
        rows=5,
        accepted_rows=5,
        accepted_at=T0,
    )
    requested = await order_events(pool, "OrderRequested")
    assert len(requested) == 5
    assert sorted(r["row"] for r in requested) == [2, 3, 4, 5, 6]
    first = (await store.read_stream(pool, requested[0]["stream_id"]))[0].decode()
    assert (first.source, first.batch_id) == ("bulk", outcome.batch_id)
    # drive=False: nothing was sent; the completer does that.
    assert await order_events(pool, "VendorRequestSent") == []


async def test_the_same_file_again_replays_every_row_and_creates_nothing(intake, pool):
    first = await upload(intake, pool, csv(4))
    again = await upload(intake, pool, csv(4))
    assert again.batch_id == first.batch_id and again.replayed
    assert (again.created, again.existing, again.refused) == (0, 4, ())
    assert len(await order_events(pool, "OrderRequested")) == 4
    assert len(await order_events(pool, "RequestReplayed")) == 4
    assert len(await store.read_stream(pool, stream_of(first.batch_id))) == 1


async def test_another_client_uploading_the_same_file_gets_its_own_batch_and_orders(intake, pool):
    ours = await upload(intake, pool, csv(2), client="acme")
    theirs = await upload(intake, pool, csv(2), client="globex")
    assert ours.batch_id != theirs.batch_id and theirs.created == 2


async def test_a_crash_after_the_batch_was_accepted_is_completed_by_uploading_again(
    intake, pool, monkeypatch
):
    submitted = 0
    real_submit = intake.submit

    async def dies_after_three(cmd, metadata, *, drive=True):
        nonlocal submitted
        if submitted == 3:
            raise ConnectionError("the process died here")
        submitted += 1
        return await real_submit(cmd, metadata, drive=drive)

    monkeypatch.setattr(bulk_batches, "SUBMIT_CONCURRENCY", 1)  # a crash after exactly 3 rows
    monkeypatch.setattr(intake, "submit", dies_after_three)
    with pytest.raises(ConnectionError):
        await upload(intake, pool, csv(10))
    assert len(await order_events(pool, "OrderRequested")) == 3
    monkeypatch.setattr(intake, "submit", real_submit)
    resumed = await upload(intake, pool, csv(10))
    assert resumed.replayed and (resumed.created, resumed.existing) == (7, 3)
    streams = [r["stream_id"] for r in await order_events(pool, "OrderRequested")]
    assert len(streams) == len(set(streams)) == 10


async def test_two_uploads_of_one_file_at_once_record_each_order_once(intake, pool):
    outcomes = await asyncio.gather(*(upload(intake, pool, csv(40)) for _ in range(2)))
    assert sorted(o.replayed for o in outcomes) == [False, True]
    assert sum(o.created for o in outcomes) == 40
    assert all(o.refused == () for o in outcomes)
    assert len(await order_events(pool, "OrderRequested")) == 40


async def test_a_row_whose_key_names_a_different_order_is_refused_and_the_rest_ordered(
    intake, pool
):
    api_order = submit_order(
        idempotency_key="camp-key-0001",
        customer_id="someone-else",
        brand_id="itunes",
        amount_minor=999,
    )
    await intake.submit(api_order, {}, drive=False)
    outcome = await upload(intake, pool, csv(3, key_column=True))
    reason = "this idempotency key was already used for a different order"
    assert outcome.refused == (RowError(3, "idempotency_key", reason),)
    assert (outcome.created, outcome.existing) == (2, 0)
    conflicts = await order_events(pool, "IdempotencyConflict")
    assert [c["stream_id"] for c in conflicts] == ["order:acme:camp-key-0001"]


async def test_each_row_is_routed_by_its_brand_and_an_unsold_brand_is_a_bad_row(intake, pool):
    data = csv(2) + b"cust-x,itunes-de,5.00,EUR\n"

    def route(brand_id: str) -> str:
        if brand_id == "itunes-de":
            raise NoVendorSells(brand_id)
        return "tango"

    routed = route_rows(parse(data), route)
    unsold = RowError(4, "brand_id", "no configured vendor sells brand 'itunes-de'")
    assert routed.errors == (unsold,) and not routed.acceptable(partial=False)
    with pytest.raises(ValueError, match="acceptable"):
        await upload(intake, pool, data, route=route)
    assert await order_events(pool, "BulkBatchAccepted") == []
    outcome = await upload(intake, pool, data, route=route, partial=True)
    assert outcome.refused == () and outcome.accepted_rows == 2
    vendors = await pool.fetch(
        "SELECT convert_from(data, 'UTF8')::jsonb ->> 'vendor' AS vendor FROM events"
        " WHERE type = 'OrderRequested'"
    )
    assert [row["vendor"] for row in vendors] == ["tango", "tango"]


async def test_only_a_file_acceptable_as_sent_is_submitted(intake, pool):
    with_bad_row = csv(2) + b"cust-x,amazon-us,oops,USD\n"
    with pytest.raises(ValueError, match="acceptable"):
        await upload(intake, pool, with_bad_row)
    assert await order_events(pool, "BulkBatchAccepted") == []
    partial = await upload(intake, pool, with_bad_row, partial=True)
    assert (partial.rows, partial.accepted_rows, partial.created) == (3, 2, 2)


async def test_progress_counts_the_batchs_orders_per_status_for_its_own_client_only(intake, pool):
    outcome = await upload(intake, pool, csv(3))
    async with pool.acquire() as conn:
        await ensure_projection(conn, OrdersProjection())
        await caught_up(conn, OrdersProjection())
    progress = await batch_progress(pool, "acme", outcome.batch_id)
    assert progress is not None
    assert (progress.orders, progress.accepted_rows, progress.complete) == (3, 3, False)
    assert progress.counts == {"pending": 3, "fulfilled": 0, "failed": 0, "refunded": 0}
    assert await batch_progress(pool, "globex", outcome.batch_id) is None
    assert await batch_progress(pool, "acme", "bat_" + "0" * 32) is None
