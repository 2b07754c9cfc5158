"""Bar charts as inline SVG geometry, drawn by the server (pure: no I/O).

One chart per currency: per business day, a bar per GL state for the amount that moved into
it. The template turns the geometry into <rect>s, each with a <title> giving the exact
figure, so the chart is readable by a screen reader and needs no script or external service.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import NamedTuple

from ledger.money import format_minor

STATES = ("pending", "fulfilled", "failed", "refunded")
WIDTH, HEIGHT = 720, 220
# Room for the axis labels: amounts on the left, dates below.
LEFT, BOTTOM, TOP = 64, 28, 8
# Gridlines above zero: the first of these that divides the axis top, so that every label is
# the exact amount at its line (4 over 0.50 would read 0.12 at 12.5 cents).
TICK_COUNTS = (4, 5, 2, 1)


class Bar(NamedTuple):
    x: float
    y: float
    width: float
    height: float
    state: str
    label: str  # "2026-12-01 fulfilled: 125.00 USD"


class Tick(NamedTuple):
    position: float
    label: str


class Chart(NamedTuple):
    currency: str
    bars: list[Bar]
    y_ticks: list[Tick]
    x_ticks: list[Tick]
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    bottom: int = HEIGHT - BOTTOM


def _nice_ceiling(value: int) -> int:
    """The smallest 1, 2 or 5 times a power of ten at or above value (axis tops read well)."""
    step = 1
    while True:
        for m in (1, 2, 5):
            if m * step >= value:
                return m * step
        step *= 10


def daily_chart(currency: str, days: Sequence[date], moved: dict[tuple[date, str], int]) -> Chart:
    """`moved[(day, state)]` is the amount in minor units moved into `state` on `day`."""
    top = _nice_ceiling(max([*moved.values(), 1]))
    plot_w, plot_h = WIDTH - LEFT, HEIGHT - BOTTOM - TOP
    slot = plot_w / max(len(days), 1)
    bar_w = max(slot * 0.8 / len(STATES), 1.0)
    bars = []
    for i, day in enumerate(days):
        for j, state in enumerate(STATES):
            amount = moved.get((day, state), 0)
            if amount <= 0:
                continue
            h = plot_h * amount / top
            bars.append(
                Bar(
                    x=LEFT + i * slot + slot * 0.1 + j * bar_w,
                    y=TOP + plot_h - h,
                    width=bar_w,
                    height=h,
                    state=state,
                    label=f"{day.isoformat()} {state}: {format_minor(amount, currency)} {currency}",
                )
            )
    ticks = next(n for n in TICK_COUNTS if top % n == 0)
    y_ticks = [
        Tick(TOP + plot_h - plot_h * k / ticks, format_minor(top * k // ticks, currency))
        for k in range(ticks + 1)
    ]
    every = max(1, len(days) // 6)  # at most about seven date labels
    x_ticks = [
        Tick(LEFT + i * slot + slot / 2, day.strftime("%m-%d"))
        for i, day in enumerate(days)
        if i % every == 0
    ]
    return Chart(currency, bars, y_ticks, x_ticks)
