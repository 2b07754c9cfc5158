"""`serve` processes of one fleet on one database, and what a test asks of them."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path

import aiohttp

from tests.cli import orders_key_headers, start_cli
from tests.e2e.orders.test_crash_recovery import env_for, free_port, wait_for, wait_for_service
from tests.harness import order_body, sandbox_stats, scraped

TERMINAL = {"fulfilled", "failed", "refunded"}


class Node:
    """One `serve --role ROLE` process on its own port."""

    def __init__(self, role: str, env: Mapping[str, str]) -> None:
        self.role, self.port = role, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = start_cli("serve", "--role", role, env={**env, "PORT": str(self.port)})

    async def ready(self) -> Node:
        await wait_for_service(self.url)
        return self

    def kill(self) -> None:
        """SIGKILL: no shutdown, no lease given back; its sessions close with the process."""
        self.process.kill()
        self.process.wait(timeout=10)

    async def metrics(self, session: aiohttp.ClientSession) -> dict[tuple[str, frozenset], float]:
        async with session.get(f"{self.url}/metrics") as response:
            return scraped(await response.text())

    async def vendor_calls(self, session: aiohttp.ClientSession) -> float:
        """Vendor attempts this node made (its completer's, on a worker node)."""
        samples = await self.metrics(session)
        return sum(v for (name, _), v in samples.items() if name == "ledger_vendor_calls_total")

    async def leases_held(self, session: aiohttp.ClientSession) -> set[str]:
        samples = await self.metrics(session)
        return {
            dict(labels)["lease"]
            for (name, labels), value in samples.items()
            if name == "ledger_lease_held" and value == 1
        }

    async def lag(self, session: aiohttp.ClientSession) -> dict[str, int]:
        async with session.get(f"{self.url}/readyz") as response:
            return (await response.json())["checks"]["projection_lag_events"]


class Fleet:
    """A sandbox vendor process with `faults` and the nodes a test starts on one database."""

    def __init__(self, database_url: str, data_dir: Path, faults: str) -> None:
        vendor_port = free_port()
        self.vendor_url = f"http://127.0.0.1:{vendor_port}"
        self.env = env_for(
            database_url,
            data_dir,
            SANDBOX_PORT="0",
            SANDBOX_URL=self.vendor_url,
            SYNC_BUDGET_S="0.2",  # most orders are left to the background, and to the workers
            SANDBOX_FAULTS=faults,
        )
        self._processes: list[subprocess.Popen] = [
            start_cli("sandbox", "--port", str(vendor_port), env=self.env)
        ]

    async def client_headers(self) -> dict[str, str]:
        """An orders:write key (which migrates the database), once the vendor answers."""
        headers = await orders_key_headers(self.env)
        await wait_for(self.vendor_url + "/_admin/stats")
        return headers

    async def node(self, role: str) -> Node:
        node = Node(role, self.env)
        self._processes.append(node.process)
        return await node.ready()

    async def assert_settled_once(
        self, session: aiohttp.ClientSession, api: str, headers: Mapping[str, str], keys: list[str]
    ) -> None:
        """Every order terminal, and at most one vendor order per order."""
        settled = await until_settled(session, api, headers, keys, within_s=120)
        assert {k: s for k, s in settled.items() if s not in TERMINAL} == {}
        stats = await sandbox_stats(self.vendor_url)
        assert stats["duplicate_references"] == []
        fulfilled = sum(s == "fulfilled" for s in settled.values())
        assert fulfilled <= stats["orders"] <= len(keys)

    def stop(self) -> None:
        for process in self._processes:
            process.kill()
            process.wait(timeout=10)


async def place(
    session: aiohttp.ClientSession, api: str, key: str, headers: Mapping[str, str]
) -> None:
    """Submit until accepted, as a client does: 409 and 503 answers, and a connection cut by a
    crash, are retried with the same idempotency key."""
    while True:
        try:
            async with session.post(
                f"{api}/api/v1/orders", json=order_body(key), headers=headers
            ) as response:
                if response.status in (200, 201, 202):
                    return
                assert response.status in (409, 503), await response.text()
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.2)


async def until_caught_up(session: aiohttp.ClientSession, node: Node) -> dict[str, int]:
    """The node's projection lag once every projection is at zero, or after 20 s."""
    for _ in range(200):
        if set((lag := await node.lag(session)).values()) == {0}:
            break
        await asyncio.sleep(0.1)
    return lag


async def statuses(
    session: aiohttp.ClientSession, api: str, headers: Mapping[str, str], keys: Iterable[str]
) -> dict[str, str | None]:
    found = {}
    for key in keys:
        async with session.get(f"{api}/api/v1/orders/{key}", headers=headers) as response:
            found[key] = (await response.json()).get("status")
    return found


async def until_settled(
    session: aiohttp.ClientSession,
    api: str,
    headers: Mapping[str, str],
    keys: list[str],
    within_s: float,
) -> dict[str, str | None]:
    """Each order's status once every one is terminal, or as it stands at the deadline."""
    deadline = asyncio.get_running_loop().time() + within_s
    while True:
        found = await statuses(session, api, headers, keys)
        if all(s in TERMINAL for s in found.values()) or (
            asyncio.get_running_loop().time() > deadline
        ):
            return found
        await asyncio.sleep(0.25)
