"""Which events a merchant webhook endpoint may be given: those its key's finance scope may
see when it is made, and, when a stronger key changes it, no more than its maker's scope lets
it be sent (what it hears follows its maker, ledger/webhooks/endpoints.py)."""

from __future__ import annotations

from ledger.auth import Principal
from ledger.http.problems import Problem
from ledger.log.merchant_events import FinanceScope
from ledger.webhooks.endpoints import Endpoint, allowed_events


def finance_scope(principal: Principal) -> FinanceScope:
    """What of finance the key sees: nothing, its own client's findings, or every client's."""
    if not principal.allows("finance:read"):
        return "none"
    return "own" if principal.finance_client is not None else "all"


def scope_needed(kind: str) -> str:
    return "finance:all" if kind.startswith("reconciliation.") else "finance:read"


def checked_events(wanted: list[str] | None, principal: Principal) -> list[str]:
    """The events asked for, without repeats, if the key may see them (omitted: all it may)."""
    allowed = allowed_events(finance_scope(principal))
    if wanted is None:
        return list(allowed)
    for kind in wanted:
        if kind not in allowed:
            scope = scope_needed(kind)
            raise Problem(
                403,
                "insufficient_scope",
                f"{kind} events need a key with {scope}",
                field="events",
                extra={"required_scope": scope},
            )
    return list(dict.fromkeys(wanted))


def sent_to(endpoint: Endpoint, events: list[str]) -> list[str]:
    """The events, if the endpoint may be sent them: it hears what its maker's finance scope
    allows, so a stronger key adding more would be answered 200 and the events never sent."""
    for kind in events:
        if kind not in allowed_events(endpoint.finance_scope):
            detail = f"this endpoint was made by a key without {scope_needed(kind)}, so it"
            detail += f" is never sent {kind} events: make a new endpoint with such a key"
            raise Problem(422, "event_not_allowed", detail, field="events")
    return events
