"""Progress on a terminal: a bar with the count, rate and time left, on stderr; nothing when
stderr is a pipe (scripts and CI see only results and errors)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

Progress = Callable[[int, int], None]
# How often the line is redrawn at most: smooth to a person, cheap for a million events.
REDRAW_S = 0.1
WIDTH = 30


def eta(done: int, total: int, elapsed: float) -> str:
    """Time left at the rate so far, as m:ss (or "--:--" before there is a rate)."""
    if done <= 0 or elapsed <= 0 or total <= done:
        return "0:00" if total and done >= total else "--:--"
    left = int((total - done) * elapsed / done)
    return f"{left // 60}:{left % 60:02d}"


def line(label: str, unit: str, done: int, total: int, elapsed: float) -> str:
    filled = WIDTH * done // total if total else WIDTH
    bar = "#" * filled + "." * (WIDTH - filled)
    rate = done / elapsed if elapsed > 0 else 0.0
    left = eta(done, total, elapsed)
    return f"\r{label} [{bar}] {done:,}/{total:,} {unit} {rate:,.0f}/s, {left} left"


def terminal_bar(
    label: str,
    unit: str,
    *,
    stream: TextIO | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Progress | None:
    """A progress callback (done, total) drawing on the stream if it is a terminal, else None."""
    out = stream or sys.stderr
    if not out.isatty():
        return None
    started, drawn = clock(), [0.0]

    def show(done: int, total: int) -> None:
        now = clock()
        finished = total > 0 and done >= total
        if not finished and now - drawn[0] < REDRAW_S:
            return
        drawn[0] = now
        print(line(label, unit, done, total, now - started), end="", file=out, flush=True)
        if finished:
            print(file=out)

    return show


def terminal_counter(
    label: str,
    *,
    stream: TextIO | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Callable[[int, int], None] | None:
    """For work whose total nobody knows in advance (a vendor's listing): pages and records
    so far, and the rate; no time left can honestly be shown. None in a pipe."""
    out = stream or sys.stderr
    if not out.isatty():
        return None
    started = clock()

    def show(pages: int, records: int) -> None:
        elapsed = clock() - started
        rate = records / elapsed if elapsed > 0 else 0.0
        print(f"\r{label}: page {pages + 1}, {records:,} records so far, {rate:,.0f}/s",
              end="", file=out, flush=True)  # fmt: skip

    return show
