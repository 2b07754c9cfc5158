"""A client generated from /openapi.json with openapi-python-client works (issue 18): it
places an order and reads a GL day with `from`/`to`, typed, over real HTTP."""

from __future__ import annotations

import asyncio
import importlib
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from ledger.auth import create_key
from ledger.http.keys import POOL

GENERATOR = Path(sys.executable).with_name("openapi-python-client")


def generate(spec: bytes, into: Path) -> None:
    (into / "openapi.json").write_bytes(spec)
    # The generator formats what it writes with ruff, found on PATH.
    env = os.environ | {"PATH": f"{GENERATOR.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    done = subprocess.run(
        [GENERATOR, "generate", "--path", "openapi.json", "--meta", "none",
         "--output-path", "ledger_client"],
        cwd=into, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    # Its only complaint may be the CSV uploads: it cannot generate text/csv request bodies
    # (the two upload routes then take their multipart form, or are skipped).
    said = done.stdout + done.stderr
    warned = [line for line in said.splitlines() if line.startswith("WARNING")]
    uploads = (
        "WARNING parsing POST /api/v1/bulk-orders",
        "WARNING parsing POST /api/v1/reconciliations/files",
    )
    assert all(line.startswith(uploads) for line in warned), said
    assert said.count("Unsupported content type") == len(warned), said


async def test_a_generated_client_places_an_order_and_reads_the_gl_day(running, tmp_path):
    client, writer, _ = running
    generate(await (await client.get("/openapi.json")).read(), tmp_path)
    sys.path.insert(0, str(tmp_path))
    try:
        generated = importlib.import_module("ledger_client")
        models = importlib.import_module("ledger_client.models")
        post_order = importlib.import_module("ledger_client.api.orders.post_api_v1_orders")
        gl_daily = importlib.import_module("ledger_client.api.gl.get_api_v1_gl_daily")
        async with client.app[POOL].acquire() as conn:
            _, finance = await create_key(conn, name="acme", scopes=["finance:read"])
        base = str(client.make_url("")).rstrip("/")
        as_writer = generated.AuthenticatedClient(base, token=writer["Authorization"].split()[1])
        body = models.CreateOrder(
            customer_id="c-generated", brand_id="amazon-us", amount="12.50", currency="EUR",
            idempotency_key="generated-client-1",
        )  # fmt: skip
        placed = await post_order.asyncio_detailed(client=as_writer, body=body)
        assert placed.status_code in (201, 202), placed.content
        assert placed.parsed.idempotency_key == "generated-client-1"
        as_finance = generated.AuthenticatedClient(base, token=finance)
        today = datetime.now(UTC).date().isoformat()
        for _ in range(100):  # the GL follows the log
            daily = await gl_daily.asyncio_detailed(
                client=as_finance, from_=today, to=today, currency="EUR"
            )
            assert daily.status_code == 200, daily.content
            moved = [d for d in daily.parsed.days if d.state == "fulfilled" and d.count == 1]
            if moved:
                break
            await asyncio.sleep(0.05)
        assert moved[0].amount == "12.50" and str(moved[0].business_date) == today
    finally:
        sys.path.remove(str(tmp_path))
        for name in [m for m in sys.modules if m.startswith("ledger_client")]:
            del sys.modules[name]
