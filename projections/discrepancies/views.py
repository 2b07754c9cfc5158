"""A discrepancy and a run as the finance API shows them: the read routes' items, and the
`data` of the merchant webhooks that announce them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from projections.discrepancies.tables import COUNTERS


def discrepancy_view(row: Mapping[str, Any]) -> dict[str, Any]:
    item = dict(row) | {"history": msgspec.json.decode(row["history"]), "type": row["kind"]}
    del item["kind"]
    return item


def run_view(row: Mapping[str, Any]) -> dict[str, Any]:
    done = row["completed_at"]
    return {
        "run_id": row["run_id"],
        "vendor": row["vendor"],
        "source": row["source"],
        "window": {"from": row["window_start"], "to": row["window_end"]},
        "status": "completed" if done else "running",
        "started_at": row["started_at"],
        "completed_at": done,
        "duration_s": (done - row["started_at"]).total_seconds() if done else None,
        "pages": row["pages"],
        "counts": {name: row[name] for name in COUNTERS},
    }
