"""Order intake benchmark: POST /api/v1/orders through the real service against a plain INSERT.

    python bench/intake.py [--database-url URL] [--orders N] [--concurrency C] [--warmup W]
                           [--role all|api] [--round-trips]

Everything listens on 127.0.0.1 with real sockets, in this one process and event loop: the
sandbox vendor (no faults, no latency), the service as `run.py` builds it (create_app with its
background workers: projection runners, completer, confirmer, sealer), and a baseline aiohttp
app whose one POST route decodes the same JSON body with the same msgspec schema and INSERTs one
row into a bare table through a pool of the same size. One aiohttp.ClientSession is the load
generator, with the same concurrency for every phase:

1. NEW: N new orders (each answered 201 once the sandbox has fulfilled it);
2. REPLAY: the same N keys and payloads again (200, Idempotent-Replayed);
3. BASELINE: N requests to the baseline app;
4. FLOOR NEW and FLOOR REPLAY: N new orders, then the same N again, to bench/floor.py's app,
   the least that keeps intake's promises (write-ahead with the attempt, the vendor call, the
   answer recorded; a replay recorded) with none of the ledger: what the promises cost here;
5. HALF RATE: N more new orders sent open-loop at half the rate phase 1 reached, each timed
   from the moment it was due: the latency a service sees below saturation.

Each phase is preceded by a warm-up of its own kind and starts once the projections have caught
up with the log. Reported: orders/s, p50/p99 latency (time.perf_counter around each request,
body read included), CPU per request of this process and of the local PostgreSQL server
(counted until the followers have caught up with the phase), the ratios new/baseline and
replay/baseline, and the floor's against the baseline and the service's against the floor.
--role api runs the service as an API node, its followers left to another node (none here).
--round-trips also counts database statements per request. A scratch database is created on
the server (--database-url, else DATABASE_URL, else the local default) and dropped at the end.
Exit status 1 when a request got an answer other than the expected one.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import gc
import os
import platform
import resource
import sys
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path

# `python bench/intake.py` puts bench/ first on sys.path, where bench/ledger.py would shadow the
# `ledger` package: the repository root takes its place before the project imports below.
ROOT = Path(__file__).resolve().parent.parent
sys.path[0] = str(ROOT)

import aiohttp  # noqa: E402
import asyncpg  # noqa: E402
import msgspec  # noqa: E402
import structlog  # noqa: E402
from aiohttp import web  # noqa: E402

from bench.floor import floor_app  # noqa: E402
from bench.scratch import (  # noqa: E402
    add_database_argument,
    percentile_ms,
    say,
    scratch_database,
    service_settings,
)
from ledger.auth import create_key  # noqa: E402
from ledger.cli.serve import freeze_startup_heap  # noqa: E402
from ledger.db import create_pool  # noqa: E402
from ledger.http.app import create_app  # noqa: E402
from ledger.http.keys import POOL, PROJECTIONS, SETTINGS  # noqa: E402
from ledger.http.schemas import CreateOrder  # noqa: E402
from ledger.logs import configure_logging  # noqa: E402
from ledger.vendors.sandbox.server import SandboxConfig, create_sandbox_app  # noqa: E402
from projections.runner import lag  # noqa: E402

# Bounds on the load this script will generate, whatever it is asked.
MAX_ORDERS = 20_000
MAX_CONCURRENCY = 128
PHASE_TIMEOUT_S = 600.0
REQUEST_TIMEOUT_S = 30.0
# How long to wait for the projection runners to catch up before a phase starts.
SETTLE_TIMEOUT_S = 60.0
# The event loop's watchdog sleeps this long and counts any lateness as a stall: short against
# the stalls that matter (tens of ms), long enough to cost nothing the phase would notice.
WATCH_TICK_S = 0.005

BASELINE_TABLE = """CREATE TABLE IF NOT EXISTS bench_baseline_orders (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    idempotency_key text,
    customer_id text NOT NULL,
    brand_id text NOT NULL,
    amount text NOT NULL,
    currency text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now())"""
BASELINE_INSERT = """INSERT INTO bench_baseline_orders
    (idempotency_key, customer_id, brand_id, amount, currency) VALUES ($1, $2, $3, $4, $5)"""


@dataclass
class Phase:
    name: str
    seconds: float
    latencies: list[float]  # seconds, sorted
    statuses: collections.Counter[int]
    expected: int
    # Per request, from the phase's start until the followers have caught up with it.
    cpu_ms: float = 0.0  # this process: load generator, service, sandbox, followers
    pg_cpu_ms: float | None = None  # every postgres process on this machine, if visible
    # With --round-trips: statements per request, all connections of this process.
    round_trips: float | None = None
    resets: float | None = None
    pauses: Pauses | None = None  # the half-rate phase's

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds

    def percentile(self, q: float) -> float:
        return percentile_ms(self.latencies, q)

    @property
    def unexpected(self) -> int:
        return sum(n for status, n in self.statuses.items() if status != self.expected)


class RoundTrips:
    """Counts the statements every asyncpg connection of this process sends (--round-trips).

    Each is one round trip: extended-protocol queries (fetch, fetchrow, fetchval, execute with
    arguments) and simple-protocol ones (BEGIN, COMMIT, and the reset asyncpg's pool sends when
    a connection is released). Diagnostic only: the wrapping costs a little per statement.
    """

    def __init__(self) -> None:
        self.statements = 0
        self.resets = 0

    def install(self) -> None:
        cls = asyncpg.connection.Connection
        execute, extended, reset = cls.execute, cls._execute, cls.reset
        counter = self

        async def counted_execute(self, query, *args, **kwargs):
            counter.statements += not args  # with arguments it goes through _execute
            return await execute(self, query, *args, **kwargs)

        async def counted_extended(self, *args, **kwargs):
            counter.statements += 1
            return await extended(self, *args, **kwargs)

        async def counted_reset(self, **kwargs):
            counter.resets += bool(self.get_reset_query())
            return await reset(self, **kwargs)

        cls.execute, cls._execute, cls.reset = counted_execute, counted_extended, counted_reset


class Pauses:
    """Where the event loop stopped during a phase: its full garbage collections (timed by
    gc.callbacks) and the latest a WATCH_TICK_S sleep came back."""

    def __init__(self) -> None:
        self.full_collections: list[float] = []  # seconds each
        self.longest_stall = 0.0
        self._collecting_since = 0.0

    def _on_collection(self, phase: str, info: dict[str, int]) -> None:
        if info["generation"] != 2:
            return
        if phase == "start":
            self._collecting_since = time.perf_counter()
        else:
            self.full_collections.append(time.perf_counter() - self._collecting_since)

    async def _watch(self) -> None:
        while True:
            before = time.perf_counter()
            await asyncio.sleep(WATCH_TICK_S)
            late = time.perf_counter() - before - WATCH_TICK_S
            self.longest_stall = max(self.longest_stall, late)

    @contextlib.asynccontextmanager
    async def watching(self) -> AsyncIterator[Pauses]:
        gc.callbacks.append(self._on_collection)
        watchdog = asyncio.create_task(self._watch())
        try:
            yield self
        finally:
            watchdog.cancel()
            gc.callbacks.remove(self._on_collection)

    def summary(self) -> str:
        longest = max(self.full_collections, default=0.0) * 1000
        return (
            f"{len(self.full_collections)} full collections (longest {longest:.1f} ms), "
            f"longest event-loop stall {self.longest_stall * 1000:.1f} ms"
        )


def process_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def postgres_cpu_s() -> float | None:
    """CPU seconds used so far by the local PostgreSQL server's processes (Linux /proc)."""
    total, seen, tick = 0, False, os.sysconf("SC_CLK_TCK")
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if not (proc / "comm").read_text().startswith("postgres"):
                continue
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # exited meanwhile, or not ours to read
        total += int(fields[11]) + int(fields[12])  # utime, stime
        seen = True
    return total / tick if seen else None


async def load(
    session: aiohttp.ClientSession,
    url: str,
    headers: dict[str, str],
    bodies: Sequence[bytes],
    concurrency: int,
    name: str,
    expected: int,
) -> Phase:
    """POST every body with `concurrency` requests in flight; time each one."""
    latencies: list[float] = []
    statuses: collections.Counter[int] = collections.Counter()
    pending = iter(bodies)

    async def worker() -> None:
        for body in pending:
            started = time.perf_counter()
            async with session.post(url, data=body, headers=headers) as response:
                await response.read()
            latencies.append(time.perf_counter() - started)
            statuses[response.status] += 1

    started = time.perf_counter()
    async with asyncio.timeout(PHASE_TIMEOUT_S):
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    seconds = time.perf_counter() - started
    latencies.sort()
    return Phase(name, seconds, latencies, statuses, expected)


# The status a request that got no answer (refused, reset, timed out) is counted under.
NO_ANSWER = 0


async def paced(
    session: aiohttp.ClientSession,
    url: str,
    headers: dict[str, str],
    bodies: Sequence[bytes],
    rate: float,
    name: str,
    expected: int,
) -> Phase:
    """POST the bodies open-loop at `rate` per second, whatever the answers take; each latency
    is timed from the moment its request was due, so queueing counts (no coordinated
    omission), the dispatcher's own lateness included.

    One dispatcher starts each request as it falls due. Making every request's task up front
    (2,000 sleeping tasks) held the loop as the phase began and set off a full collection
    there: the first dozen requests went out together, late, and made the run's p99.
    """
    latencies: list[float] = []
    statuses: collections.Counter[int] = collections.Counter()

    async def one(due: float, body: bytes) -> None:
        # A request that got no answer is counted as NO_ANSWER, an unexpected status, rather
        # than ending the phase (and the run) in the task group's ExceptionGroup.
        status = NO_ANSWER
        try:
            async with session.post(url, data=body, headers=headers) as response:
                await response.read()
                status = response.status
        except (aiohttp.ClientError, TimeoutError):
            pass
        latencies.append(time.perf_counter() - due)
        statuses[status] += 1

    started = time.perf_counter()
    async with asyncio.timeout(PHASE_TIMEOUT_S), asyncio.TaskGroup() as requests:
        for i, body in enumerate(bodies):
            due = started + i / rate
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            requests.create_task(one(due, body))
    latencies.sort()
    return Phase(name, time.perf_counter() - started, latencies, statuses, expected)


def order_bodies(tag: str, first: int, count: int) -> list[bytes]:
    return [
        msgspec.json.encode(
            {
                "idempotency_key": f"bench-{tag}-{i:06d}",
                "customer_id": f"cust-{i % 97}",
                "brand_id": "amazon-us",
                "amount": "25.00",
                "currency": "USD",
            }
        )
        for i in range(first, first + count)
    ]


def baseline_app(dsn: str) -> web.Application:
    """One POST route: decode the order body as the service does, INSERT one row, answer 201."""
    decoder = msgspec.json.Decoder(CreateOrder)
    encoder = msgspec.json.Encoder()
    pool_key = web.AppKey("pool", asyncpg.Pool)

    async def pool_ctx(app: web.Application) -> AsyncIterator[None]:
        app[pool_key] = await create_pool(dsn)  # the service's pool size
        await app[pool_key].execute(BASELINE_TABLE)
        yield
        await app[pool_key].close()

    async def create(request: web.Request) -> web.Response:
        body = decoder.decode(await request.read())
        await request.app[pool_key].execute(
            BASELINE_INSERT,
            body.idempotency_key,
            body.customer_id,
            body.brand_id,
            bytes(body.amount).decode(),
            body.currency,
        )
        answer = {"idempotency_key": body.idempotency_key, "status": "accepted"}
        return web.Response(
            status=201, body=encoder.encode(answer), content_type="application/json"
        )

    app = web.Application()
    app.cleanup_ctx.append(pool_ctx)
    app.router.add_post("/orders", create)
    return app


@contextlib.asynccontextmanager
async def serve(app: web.Application) -> AsyncIterator[str]:
    """Serve app on 127.0.0.1 at a free port, as run.py does (no access log); yield its URL."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        host, port = runner.addresses[0][:2]
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


async def settle(app: web.Application) -> None:
    """Wait until every projection has applied the whole log, so no phase inherits a backlog;
    at once on an API node, whose log nothing in this process follows."""
    if app[SETTINGS].node_role == "api":
        return
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    while True:
        async with app[POOL].acquire() as conn:
            lags = await lag(conn, list(app[PROJECTIONS].values()))
        behind = {name: lagged.events for name, lagged in lags.items() if lagged.events}
        if not behind:
            return
        if time.monotonic() > deadline:
            say(f"projections still behind after {SETTLE_TIMEOUT_S:.0f}s: {behind}")
            return
        await asyncio.sleep(0.1)


async def bench(
    dsn: str, orders: int, concurrency: int, warmup: int, role: str, trips: RoundTrips | None
) -> list[Phase]:
    async with contextlib.AsyncExitStack() as stack:
        sandbox_url = await stack.enter_async_context(serve(create_sandbox_app(SandboxConfig())))
        settings = msgspec.structs.replace(
            service_settings(sandbox_url, "bench-intake"), node_role=role
        )
        service = create_app(settings, dsn)
        service_url = await stack.enter_async_context(serve(service))
        baseline_url = await stack.enter_async_context(serve(baseline_app(dsn)))
        floor = floor_app(dsn, sandbox_url, settings.max_amount_minor)
        floor_url = await stack.enter_async_context(serve(floor))
        freeze_startup_heap()  # as `serve` does once its app has started
        async with service[POOL].acquire() as conn:
            _, key = await create_key(conn, name="bench", scopes=["orders:write"])
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        connector = aiohttp.TCPConnector(limit=concurrency)
        timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
        session = await stack.enter_async_context(
            aiohttp.ClientSession(connector=connector, timeout=timeout)
        )
        orders_url, baseline_orders_url = f"{service_url}/api/v1/orders", f"{baseline_url}/orders"
        floor_orders_url = f"{floor_url}/orders"

        warm, measured = order_bodies("warm", 0, warmup), order_bodies("run", 0, orders)
        say(
            f"warm-up: {warmup} new orders and replays, baseline requests, floor orders and replays"
        )
        await load(session, orders_url, headers, warm, concurrency, "warm new", 201)
        await load(session, orders_url, headers, warm, concurrency, "warm replay", 200)
        await load(session, baseline_orders_url, headers, warm, concurrency, "warm base", 201)
        await load(session, floor_orders_url, headers, warm, concurrency, "warm floor new", 201)
        await load(session, floor_orders_url, headers, warm, concurrency, "warm floor replay", 200)

        phases = []
        await settle(service)
        for name, url, expected in (
            ("new orders", orders_url, 201),
            ("replays", orders_url, 200),
            ("baseline (1 INSERT)", baseline_orders_url, 201),
            ("floor, new orders", floor_orders_url, 201),
            ("floor, replays", floor_orders_url, 200),
        ):
            say(f"{name}: {orders} requests at concurrency {concurrency}")
            before = (trips.statements, trips.resets) if trips else (0, 0)
            cpu, pg_cpu = process_cpu_s(), postgres_cpu_s()
            phase = await load(session, url, headers, measured, concurrency, name, expected)
            # The followers' share of the work is done by the end of this.
            await settle(service)
            phase.cpu_ms = (process_cpu_s() - cpu) * 1000 / orders
            pg_after = postgres_cpu_s()
            if pg_cpu is not None and pg_after is not None:
                phase.pg_cpu_ms = (pg_after - pg_cpu) * 1000 / orders
            if trips:
                phase.round_trips = (trips.statements - before[0]) / orders
                phase.resets = (trips.resets - before[1]) / orders
            phases.append(phase)
        # Latency where a service runs in production: well below its saturation point.
        half = phases[0].rate / 2
        say(
            f"new orders at half their maximum rate: {orders} requests at {half:,.0f}/s "
            f"after {warmup} unmeasured"
        )
        unlimited = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=unlimited, timeout=timeout) as open_loop:
            # Warmed, then settled, as every other phase is: a fresh client's first requests
            # open their connections together, a burst no steady client sends.
            warm_half = order_bodies("warm-half", 0, warmup)
            await paced(open_loop, orders_url, headers, warm_half, half, "warm half rate", 201)
            await settle(service)
            bodies = order_bodies("half", 0, orders)
            async with Pauses().watching() as pauses:
                phases.append(
                    await paced(open_loop, orders_url, headers, bodies, half, "new, half rate", 201)
                )
        phases[-1].pauses = pauses
        await settle(service)
        return phases


async def server_version(url: str) -> str:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetchval("SHOW server_version")
    finally:
        await conn.close()


def report(
    phases: list[Phase], orders: int, concurrency: int, warmup: int, role: str, pg: str
) -> None:
    new, replay, base, floor_new, floor_replay, half = phases
    print(
        f"order intake: {orders:,} requests per phase, concurrency {concurrency}, "
        f"warm-up {warmup} per phase, 127.0.0.1, service role {role}"
    )
    print(
        f"nproc {os.cpu_count()}, PostgreSQL {pg}, Python {platform.python_version()}, "
        f"aiohttp {aiohttp.__version__}, asyncpg {asyncpg.__version__}"
    )
    trips = new.round_trips is not None
    head = f"{'':<22}{'orders/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'cpu ms':>8}{'pg cpu ms':>11}"
    head += f"{'db trips/req':>14}{'resets':>8}" if trips else ""
    head += "  statuses"
    print(head)
    print("-" * len(head))
    for phase in (new, replay, base, floor_new, floor_replay):
        statuses = " ".join(f"{s}x{n}" for s, n in sorted(phase.statuses.items()))
        line = f"{phase.name:<22}{phase.rate:>10,.0f}{phase.percentile(50):>9.2f}"
        pg_cpu = "-" if phase.pg_cpu_ms is None else f"{phase.pg_cpu_ms:.2f}"
        line += f"{phase.percentile(99):>9.2f}{phase.cpu_ms:>8.2f}{pg_cpu:>11}"
        if trips:
            line += f"{phase.round_trips:>14.1f}{phase.resets:>8.1f}"
        print(f"{line}  {statuses}")
    for phase, against, label in (
        (new, base, "new/baseline"),
        (replay, base, "replay/baseline"),
        (floor_new, base, "floor new/baseline"),
        (floor_replay, base, "floor replay/base"),
        (new, floor_new, "new/floor new"),
        (replay, floor_replay, "replay/floor"),
    ):
        print(
            f"{label:<18} throughput {phase.rate / against.rate:.3f}  "
            f"p50 x{phase.percentile(50) / against.percentile(50):.1f}  "
            f"p99 x{phase.percentile(99) / against.percentile(99):.1f}  "
            f"cpu x{phase.cpu_ms / against.cpu_ms:.1f}"
        )
    statuses = " ".join(f"{s}x{n}" for s, n in sorted(half.statuses.items()))
    print(
        f"new orders open-loop at {half.rate:,.0f}/s (half of {new.rate:,.0f}/s): "
        f"p50 {half.percentile(50):.2f} ms, p99 {half.percentile(99):.2f} ms  {statuses}"
    )
    if half.pauses is not None:
        print(f"  during it: {half.pauses.summary()}")
    followers = ", followers" if role == "all" else ""
    print(
        "cpu ms: CPU per request of this process (load generator, sandbox, and the row's app:"
        f" the service{followers}, the baseline or the floor)"
    )
    print(
        "pg cpu ms: CPU per request of the local PostgreSQL server; both until followers caught up"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_database_argument(parser)
    parser.add_argument("--orders", type=int, default=2_000, help="requests per measured phase")
    parser.add_argument("--concurrency", type=int, default=16, help="requests in flight")
    parser.add_argument("--warmup", type=int, default=200, help="requests per warm-up phase")
    parser.add_argument(
        "--log-level",
        default="info",
        help="service log level; lines are rendered as in production, then discarded",
    )
    parser.add_argument(
        "--role",
        choices=("all", "api"),
        default="all",
        help="the service's node role: all (as `serve` runs by default, followers included) or "
        "api (what one API node costs, with its followers on another; the projections are left "
        "behind and the CPU columns are the API's alone)",
    )
    parser.add_argument(
        "--round-trips",
        action="store_true",
        help="also count database statements per request (all connections of this process, "
        "background followers included; pool resets shown apart); costs a little throughput",
    )
    args = parser.parse_args()
    if not 1 <= args.orders <= MAX_ORDERS or not 1 <= args.concurrency <= MAX_CONCURRENCY:
        parser.error(
            f"need 1 <= --orders <= {MAX_ORDERS} and 1 <= --concurrency <= {MAX_CONCURRENCY}"
        )
    if not 0 <= args.warmup <= MAX_ORDERS:
        parser.error(f"need 0 <= --warmup <= {MAX_ORDERS}")

    # The canonical request line costs what it costs in production (JSON, as when not a TTY),
    # but goes nowhere: the figures are the output.
    configure_logging(args.log_level, json=True)
    devnull = open(os.devnull, "w")  # noqa: SIM115 (open for the life of the process)
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(file=devnull))
    return asyncio.run(run(args))


async def run(args: argparse.Namespace) -> int:
    pg = await server_version(args.database_url)
    trips = None
    if args.round_trips:
        trips = RoundTrips()
        trips.install()
    async with scratch_database(args.database_url, "bench_intake") as dsn:
        phases = await bench(dsn, args.orders, args.concurrency, args.warmup, args.role, trips)
    report(phases, args.orders, args.concurrency, args.warmup, args.role, pg)
    bad = sum(phase.unexpected for phase in phases)
    if bad:
        print(f"{bad} requests got an unexpected status (see the statuses column)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
