"""bench/intake.py's open-loop phase reports a request that got no answer as an unexpected
status instead of ending the run in an ExceptionGroup (noticed at stop 31)."""

from __future__ import annotations

import socket

import aiohttp

from bench.intake import NO_ANSWER, paced


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def test_requests_that_get_no_answer_are_counted_and_the_phase_ends():
    url = f"http://127.0.0.1:{_closed_port()}/api/v1/orders"
    async with aiohttp.ClientSession() as session:
        phase = await paced(session, url, {}, [b"{}"] * 3, rate=100.0, name="refused", expected=201)
    assert phase.statuses == {NO_ANSWER: 3}
    assert phase.unexpected == 3 and len(phase.latencies) == 3
