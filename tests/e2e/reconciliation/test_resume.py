"""A manual run that stopped (the vendor away past its page retries, a restart) can be
resumed by its id: it carries on from its last recorded page to its completion, where
before nothing could ever complete it."""

from __future__ import annotations

from datetime import timedelta

from ledger.http.keys import POOL
from ledger.log import events as ev
from ledger.log import store
from tests.e2e.reconciliation.test_runs import NOW, running, until_completed  # noqa: F401
from tests.harness import order_body

RUN = "manual-sandbox-0123456789abcdef0123456789abcdef"


async def stopped_run(pool, run_id: str, source: str = "vendor_api") -> None:
    """A run as one is left behind: started, no page recorded, never completed."""
    started = ev.ReconciliationStarted(
        run_id=run_id,
        vendor="sandbox",
        window_start=NOW - timedelta(hours=6),
        window_end=NOW + timedelta(hours=6),
        started_at=NOW,
        source=source,
    )
    await store.append(pool, f"reconciliation:{run_id}", [started], 0)


async def test_a_stopped_manual_run_resumes_to_its_completion(running):  # noqa: F811
    client, admin, writer, _ = running
    placed = await client.post("/api/v1/orders", json=order_body("resumed-1"), headers=writer)
    assert placed.status in (201, 202), await placed.text()
    await stopped_run(client.app[POOL], RUN)

    resumed = await client.post(f"/api/v1/reconciliations/{RUN}/resume", headers=admin)
    assert resumed.status == 202, await resumed.text()
    assert (await resumed.json()) == {"run_id": RUN, "status": "running"}
    assert resumed.headers["Location"] == f"/api/v1/reconciliations/{RUN}"
    progress = await until_completed(client, RUN)
    assert progress.records == 1 and progress.started.window_start == NOW - timedelta(hours=6)

    again = await client.post(f"/api/v1/reconciliations/{RUN}/resume", headers=admin)
    assert again.status == 200 and (await again.json())["status"] == "completed"


async def test_only_a_stopped_vendor_run_is_resumed_and_only_by_an_admin(running):  # noqa: F811
    client, admin, writer, _ = running
    missing = await client.post("/api/v1/reconciliations/manual-none/resume", headers=admin)
    assert missing.status == 404 and (await missing.json())["code"] == "run_not_found"
    await stopped_run(client.app[POOL], "file-sandbox-abc", source="file")
    file_run = await client.post("/api/v1/reconciliations/file-sandbox-abc/resume", headers=admin)
    problem = await file_run.json()
    assert file_run.status == 409 and problem["code"] == "file_run"
    refused = await client.post(f"/api/v1/reconciliations/{RUN}/resume", headers=writer)
    assert refused.status == 403
