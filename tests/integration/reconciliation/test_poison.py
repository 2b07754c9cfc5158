"""A vendor record that could poison the log (a NUL byte, an amount past bigint) is refused by
the adapter as a vendor error: the run stops on that page and nothing of it is appended, so no
projection is left failing on it for ever (issue 12, finding 1)."""

from __future__ import annotations

import pytest

from ledger.reconciliation.runs import PageUnavailable
from tests.integration.reconciliation.test_runs import (
    observations,
    reconcile,
    vendor,
    vendor_order,
)


@pytest.mark.parametrize(
    ("reference", "amount_minor"),
    [("gcl-\x00-poison", 2500), ("gcl-poisoned", 2**63)],
    ids=["nul_reference", "amount_past_bigint"],
)
async def test_a_poison_record_stops_the_run_and_appends_nothing(pool, reference, amount_minor):
    async with vendor() as (url, client, session):
        await vendor_order(session, url, "gcl-fine-1")
        await vendor_order(session, url, reference, amount_minor=amount_minor)
        with pytest.raises(PageUnavailable):
            await reconcile(pool, client, "run-poison")
    assert await observations(pool, "run-poison") == []
    # msgspec writes a NUL as the JSON escape \u0000: no stored event holds one.
    stored = await pool.fetchval(
        r"SELECT count(*) FROM events WHERE strpos(convert_from(data, 'UTF8'), '\u0000') > 0"
    )
    assert stored == 0
