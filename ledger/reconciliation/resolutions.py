"""A person's resolution of a discrepancy (pure decision; the handler does the I/O)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from ledger.log import events as ev

Action = Literal["acknowledge", "accept_vendor_status"]


class ResolutionRefused(ValueError):
    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail


def decide_resolution(
    *,
    discrepancy_id: str,
    kind: str,
    state: str,
    vendor_status: str | None,
    amount_minor: int | None,
    action: Action,
    note: str,
    actor: str,
    now: datetime,
) -> list[ev.Event]:
    """`acknowledge` closes it as is; `accept_vendor_status` also corrects our order to match.

    Only a status can be corrected here: an amount or a missing record needs a refund or a new
    order, which are business actions of their own, not a fix-up of the ledger.
    """
    if state == "resolved":
        raise ResolutionRefused(409, "already_resolved", f"{discrepancy_id} is already resolved")
    resolved = ev.DiscrepancyResolved(
        discrepancy_id=discrepancy_id, action=action, note=note, actor=actor, resolved_at=now
    )
    if action == "acknowledge":
        return [resolved]
    if kind != "status_mismatch" or vendor_status not in ("fulfilled", "failed", "refunded"):
        raise ResolutionRefused(
            422, "action_not_applicable", "accept_vendor_status only corrects a status mismatch"
        )
    correction: ev.Event
    if vendor_status == "fulfilled":
        correction = ev.OrderFulfilled(vendor_order_id=None, source="manual", fulfilled_at=now)
    elif vendor_status == "failed":
        correction = ev.OrderFailed(reason=f"resolved: {note}", source="manual", failed_at=now)
    else:
        correction = ev.OrderRefunded(
            amount_minor=amount_minor or 0, source="manual", refunded_at=now, reason=note
        )
    return [correction, resolved]
