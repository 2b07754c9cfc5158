"""`serve` processes of one fleet on one database, and what a test asks of them."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterable, Mapping

import aiohttp

from tests.cli import start_cli
from tests.e2e.orders.test_crash_recovery import free_port, wait_for_service
from tests.harness import scraped

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


def stop_all(nodes: Iterable[Node | subprocess.Popen]) -> None:
    for node in nodes:
        process = node.process if isinstance(node, Node) else node
        process.kill()
        process.wait(timeout=10)


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
