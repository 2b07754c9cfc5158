"""Which status moves an order may make, and on whose word (pure: no I/O, no clock).

The vendor's word is anything it told us about the order: an answer to an attempt, a lookup, a
record a reconciliation run listed. A person's word is a resolution of a discrepancy. Nothing
ever moves an order back to pending: that would re-open a charge the GL has already booked.

| from \\ to | pending | fulfilled | failed | refunded |
|-----------|---------|-----------|--------|----------|
| pending   | -       | vendor    | vendor | vendor   |
| fulfilled | never   | -         | person | vendor   |
| failed    | never   | person    | -      | person   |
| refunded  | never   | person    | person | -        |

A vendor contradicting a terminal order in any other way (a late `fulfilled` for an order it
failed or refunded) is recorded as the answer it is, moves nothing, and is left to
reconciliation to report as a status mismatch for a person to resolve.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

Status = Literal["pending", "fulfilled", "failed", "refunded"]
Authority = Literal["vendor", "person"]
STATUSES: tuple[Status, ...] = ("pending", "fulfilled", "failed", "refunded")
TERMINAL: frozenset[str] = frozenset({"fulfilled", "failed", "refunded"})

# (from, to) -> the least authority that may make the move; absent: never.
MOVES: Mapping[tuple[Status, Status], Authority] = {
    ("pending", "fulfilled"): "vendor",
    ("pending", "failed"): "vendor",
    ("pending", "refunded"): "vendor",
    ("fulfilled", "refunded"): "vendor",
    ("fulfilled", "failed"): "person",
    ("failed", "fulfilled"): "person",
    ("failed", "refunded"): "person",
    ("refunded", "fulfilled"): "person",
    ("refunded", "failed"): "person",
}


def may_move(current: Status, target: Status, authority: Authority) -> bool:
    """Whether `authority` may move an order from `current` to `target` (staying is a no-op)."""
    required = MOVES.get((current, target))
    if required is None:
        return False
    return required == "vendor" or authority == "person"
