"""A merchant's webhook endpoints: every change is an event in webhook-endpoint:{id} and, in the
same transaction, the endpoint's current row (what deliveries read), so the two never differ.

Ids, secrets and times come from the caller (the HTTP edge); this module only records them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg
import msgspec

from ledger.log import events as ev
from ledger.log import store
from ledger.log.merchant_events import FinanceScope
from ledger.orders.vault import CardVault

ORDER_EVENTS = ("order.pending", "order.fulfilled", "order.failed", "order.refunded")
DISCREPANCY_EVENTS = ("discrepancy.opened", "discrepancy.resolved")
# Vendor-wide: a run covers every client's orders, so only finance:all endpoints get it.
RUN_EVENTS = ("reconciliation.completed",)
EVENT_TYPES = (*ORDER_EVENTS, *DISCREPANCY_EVENTS, *RUN_EVENTS)


def allowed_events(finance_scope: FinanceScope) -> tuple[str, ...]:
    """The event types an endpoint made by a key of this finance scope may receive."""
    if finance_scope == "all":
        return EVENT_TYPES
    return (*ORDER_EVENTS, *DISCREPANCY_EVENTS) if finance_scope == "own" else ORDER_EVENTS


# Each finance scope sees all the one below it sees: order events; its client's findings; all.
_SCOPE_RANK: dict[FinanceScope, int] = {"none": 0, "own": 1, "all": 2}


def covers(caller: FinanceScope, endpoint: FinanceScope) -> bool:
    """Whether a key of the caller's finance scope sees all an endpoint made with `endpoint`'s
    may be sent, and so may change where it goes."""
    return _SCOPE_RANK[caller] >= _SCOPE_RANK[endpoint]


def endpoint_stream(endpoint_id: str) -> str:
    return f"webhook-endpoint:{endpoint_id}"


class Endpoint(msgspec.Struct, frozen=True):
    id: str
    client_id: str
    url: str
    events: list[str]
    description: str
    finance_scope: FinanceScope
    disabled: bool
    disabled_reason: str | None
    created_at: datetime
    updated_at: datetime


_COLUMNS = (
    "id, client_id, url, events, description, finance_scope, disabled, disabled_reason,"
    " created_at, updated_at"
)


# Who the deliverer's events name as their author.
_DELIVERER = {"actor": "webhook-deliveries"}


def _endpoint(row: asyncpg.Record) -> Endpoint:
    return Endpoint(**dict(row))


def _secret_binding(endpoint_id: str, secret_id: str) -> str:
    return f"webhook-secret:{endpoint_id}:{secret_id}"


async def _store_secret(
    conn: asyncpg.Connection,
    vault: CardVault,
    endpoint_id: str,
    secret_id: str,
    secret: str,
    now: datetime,
) -> None:
    nonce, ciphertext = vault.encrypt(_secret_binding(endpoint_id, secret_id), secret.encode())
    await conn.execute(
        "INSERT INTO webhook_secrets (endpoint_id, secret_id, key_id, nonce, ciphertext,"
        " created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        endpoint_id,
        secret_id,
        vault.key_id,
        nonce,
        ciphertext,
        now,
    )


async def create(
    conn: asyncpg.Connection,
    vault: CardVault,
    created: ev.WebhookEndpointCreated,
    secret: str,
    metadata: dict[str, Any],
) -> Endpoint:
    async with conn.transaction():
        row = await conn.fetchrow(
            f"""INSERT INTO webhook_endpoints (id, client_id, url, events, description,
                    finance_scope, created_at, updated_at)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING {_COLUMNS}""",
            created.endpoint_id,
            created.client_id,
            created.url,
            created.events,
            created.description,
            created.finance_scope,
            created.created_at,
        )
        await _store_secret(
            conn, vault, created.endpoint_id, created.secret_id, secret, created.created_at
        )
        await store.append(
            conn, endpoint_stream(created.endpoint_id), [created], 0, metadata=metadata
        )
    return _endpoint(row)


async def find(
    conn: asyncpg.Connection | asyncpg.Pool, client_id: str, endpoint_id: str
) -> Endpoint | None:
    """The client's endpoint (never another client's: the same 404 either way)."""
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM webhook_endpoints WHERE id = $1 AND client_id = $2"
        " AND NOT deleted",
        endpoint_id,
        client_id,
    )
    return None if row is None else _endpoint(row)


async def listed(
    conn: asyncpg.Connection | asyncpg.Pool, client_id: str, after: str | None, limit: int
) -> list[Endpoint]:
    rows = await conn.fetch(
        f"""SELECT {_COLUMNS} FROM webhook_endpoints
            WHERE client_id = $1 AND NOT deleted AND ($2::text IS NULL OR id > $2)
            ORDER BY id LIMIT $3""",
        client_id,
        after,
        limit,
    )
    return [_endpoint(r) for r in rows]


async def lock_for_change(conn: asyncpg.Connection, endpoint_id: str) -> None:
    # The row lock serialises every change to one endpoint (two PATCHes, a PATCH and the
    # deliverer disabling it): each reads the state the previous one committed. Every writer
    # locks in one order, deliveries' rows, then this row, then the endpoint's stream (as a
    # recover's key-share lock comes before its append), so no two of them can each hold what
    # the other waits for (docs/webhooks.md, tests/integration/webhooks). `disable` takes it
    # though its one caller, the deliverer's record, already holds it: a no-op there, and the
    # guarantee for any other caller.
    await conn.execute("SELECT 1 FROM webhook_endpoints WHERE id = $1 FOR UPDATE", endpoint_id)


async def update(
    conn: asyncpg.Connection,
    endpoint_id: str,
    updated: ev.WebhookEndpointUpdated,
    metadata: dict[str, Any],
) -> Endpoint:
    async with conn.transaction():
        await lock_for_change(conn, endpoint_id)
        row = await conn.fetchrow(
            f"""UPDATE webhook_endpoints SET url = coalesce($2, url),
                    events = coalesce($3, events), description = coalesce($4, description),
                    disabled = coalesce($5, disabled),
                    -- re-enabling forgets why it was disabled and the failures behind it
                    disabled_reason = CASE WHEN $5 = false THEN NULL
                                           WHEN $5 THEN 'by the client' ELSE disabled_reason END,
                    failing_since = CASE WHEN $5 = false THEN NULL ELSE failing_since END,
                    updated_at = $6
                WHERE id = $1 RETURNING {_COLUMNS}""",
            endpoint_id,
            updated.url,
            updated.events,
            updated.description,
            updated.disabled,
            updated.updated_at,
        )
        await store.append_observed(
            conn, endpoint_stream(endpoint_id), [updated], metadata=metadata
        )
    return _endpoint(row)


async def delete(
    conn: asyncpg.Connection,
    endpoint_id: str,
    deleted: ev.WebhookEndpointDeleted,
    metadata: dict[str, Any],
) -> None:
    """The row stays (its deliveries and attempts name it), marked deleted: nothing is sent to
    it again and it is no longer listed."""
    async with conn.transaction():
        await lock_for_change(conn, endpoint_id)
        await conn.execute(
            "UPDATE webhook_endpoints SET deleted = true, updated_at = $2 WHERE id = $1",
            endpoint_id,
            deleted.deleted_at,
        )
        await store.append_observed(
            conn, endpoint_stream(endpoint_id), [deleted], metadata=metadata
        )


async def rotate(
    conn: asyncpg.Connection,
    vault: CardVault,
    endpoint_id: str,
    rotated: ev.WebhookSecretRotated,
    secret: str,
    metadata: dict[str, Any],
) -> None:
    """The new secret signs from now on; the current ones sign beside it until the previous
    one's expiry (a secret already due to expire sooner keeps its earlier time)."""
    async with conn.transaction():
        await lock_for_change(conn, endpoint_id)
        await conn.execute(
            """UPDATE webhook_secrets SET expires_at = least(coalesce(expires_at, $2), $2)
               WHERE endpoint_id = $1""",
            endpoint_id,
            rotated.previous_expires_at,
        )
        await _store_secret(conn, vault, endpoint_id, rotated.secret_id, secret, rotated.rotated_at)
        await store.append_observed(
            conn, endpoint_stream(endpoint_id), [rotated], metadata=metadata
        )


async def disable(
    conn: asyncpg.Connection, endpoint_id: str, disabled: ev.WebhookEndpointDisabled
) -> None:
    async with conn.transaction():
        await lock_for_change(conn, endpoint_id)
        await conn.execute(
            """UPDATE webhook_endpoints SET disabled = true, disabled_reason = $2, updated_at = $3
               WHERE id = $1""",
            endpoint_id,
            f"{disabled.reason}: {disabled.detail}",
            disabled.disabled_at,
        )
        await store.append_observed(
            conn, endpoint_stream(endpoint_id), [disabled], metadata=_DELIVERER
        )


async def signing_secrets(
    conn: asyncpg.Connection, vault: CardVault, endpoint_id: str, now: datetime
) -> list[str]:
    """Every secret that signs now: the newest, and an older one inside its overlap."""
    rows = await conn.fetch(
        """SELECT secret_id, nonce, ciphertext FROM webhook_secrets
           WHERE endpoint_id = $1 AND (expires_at IS NULL OR expires_at > $2)
           ORDER BY created_at DESC""",
        endpoint_id,
        now,
    )
    return [
        vault.decrypt(
            _secret_binding(endpoint_id, r["secret_id"]), r["nonce"], r["ciphertext"]
        ).decode()
        for r in rows
    ]


async def append_attempt(
    conn: asyncpg.Connection, endpoint_id: str, attempted: ev.WebhookDeliveryAttempted
) -> None:
    await store.append_observed(
        conn, endpoint_stream(endpoint_id), [attempted], metadata=_DELIVERER
    )
