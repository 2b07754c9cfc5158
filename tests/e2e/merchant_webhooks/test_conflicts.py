"""A request whose transaction PostgreSQL aborts on a conflict (a deadlock, a serialization
failure) is a 503 with Retry-After: nothing of it was written, and the same request again
succeeds. Before, it was a 500 "internal error".

The deadlock is made by hand, with a session that takes the PATCH's two locks in the other
order: no writer in the service does, but a lock order that slips ends the same way.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import asyncpg
import pytest

from ledger.log import events as ev
from ledger.log import store
from ledger.webhooks.endpoints import endpoint_stream
from tests.harness import answer_to_raising

ENDPOINTS = "/api/v1/webhook-endpoints"


async def _until_blocked_by(other: asyncpg.Connection) -> None:
    """Until a session waits for a lock that `other` holds: only a writer of the endpoint's
    stream can (its next version), and with no orders placed, that is the PATCH. pg_locks, not
    pg_stat_activity, whose list of sessions stays as first read within `other`'s transaction."""
    query = """SELECT count(*) FROM pg_locks
               WHERE NOT granted AND pg_backend_pid() = ANY(pg_blocking_pids(pid))"""
    deadline = asyncio.get_running_loop().time() + 10
    while not await other.fetchval(query):
        assert asyncio.get_running_loop().time() < deadline, "the PATCH waited on no lock"
        await asyncio.sleep(0.01)


async def test_a_request_chosen_as_a_deadlock_victim_is_a_503_and_its_retry_succeeds(
    hooks, database_url
):
    endpoint_id = (await hooks.endpoint(description="v1"))["endpoint"]["id"]
    one = f"{ENDPOINTS}/{endpoint_id}"
    other = await asyncpg.connect(database_url)
    patch = None
    try:
        # PostgreSQL looks for a deadlock once per wait, deadlock_timeout after it begins, and
        # aborts the session that finds it: the PATCH, which starts waiting first.
        tx = other.transaction()
        await tx.start()
        # The other session holds the stream's next version, uncommitted...
        requeued = ev.WebhookEventsRequeued(
            reason="recover", count=0, requested_at=datetime.now(UTC), actor="key:other"
        )
        await store.append_observed(other, endpoint_stream(endpoint_id), [requeued])
        # ...the PATCH locks the endpoint's row and waits to append that same version...
        patch = asyncio.create_task(
            hooks.client.patch(one, json={"description": "v2"}, headers=hooks.headers)
        )
        await _until_blocked_by(other)
        # ...and the other session now waits for the row: each waits for the other.
        await other.execute("SELECT 1 FROM webhook_endpoints WHERE id = $1 FOR UPDATE", endpoint_id)
        answer = await asyncio.wait_for(patch, 30)
        await tx.rollback()
    finally:
        if patch is not None and not patch.done():
            patch.cancel()
        await other.close()

    body = await answer.json()
    assert answer.status == 503, body
    assert answer.headers["Retry-After"] == "1"
    assert body["code"] == "transaction_conflict"
    assert (await hooks.get(one))["description"] == "v1"
    assert await hooks.stream(endpoint_id) == ["WebhookEndpointCreated"]

    again = await hooks.client.patch(one, json={"description": "v2"}, headers=hooks.headers)
    assert again.status == 200 and (await again.json())["description"] == "v2"
    assert await hooks.stream(endpoint_id) == ["WebhookEndpointCreated", "WebhookEndpointUpdated"]


@pytest.mark.parametrize(
    ("error", "status"),
    [
        pytest.param(asyncpg.DeadlockDetectedError("deadlock detected"), 503, id="deadlock"),
        pytest.param(asyncpg.SerializationError("could not serialize"), 503, id="serialization"),
        # May have committed: a retry could do it twice.
        pytest.param(
            asyncpg.StatementCompletionUnknownError("unknown"), 500, id="completion-unknown"
        ),
        # Any other PostgreSQL error in a request is a bug, and stays one.
        pytest.param(asyncpg.UniqueViolationError("duplicate key value"), 500, id="unique"),
    ],
)
async def test_only_a_conflict_that_aborted_the_transaction_is_a_503(error, status):
    answered, headers, body = await answer_to_raising(error)
    assert answered == status
    if status == 503:
        assert body["code"] == "transaction_conflict" and headers["Retry-After"] == "1"
    else:
        assert body["code"] == "internal_error" and "Retry-After" not in headers
