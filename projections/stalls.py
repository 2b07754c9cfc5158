"""Pure: which projections have events to apply but a checkpoint that has not moved.

A lag threshold alone misses a projection stuck one event behind for good (a poison event, a
runner that died on another node): its lag never grows past the threshold. This watches the
checkpoint instead. No clock: the caller passes a monotonic `now` with each observation.
"""

from __future__ import annotations

from typing import NamedTuple


class Stall(NamedTuple):
    at_position: int  # the checkpoint: the last event the projection applied
    lag_events: int
    for_s: float  # how long the checkpoint has not moved while events waited, at least


class StallWatch:
    """Remembers, per projection, the checkpoint and since when it has been at rest with work
    waiting. An observation with nothing to apply, or a moved checkpoint, starts over."""

    def __init__(self, after_s: float) -> None:
        self.after_s = after_s
        self._since: dict[str, tuple[int, float]] = {}

    def observe(
        self, name: str, position: int, lag_events: int, oldest_s: float, now: float
    ) -> Stall | None:
        """The projection's stall if it has lasted after_s or more, else None.

        `oldest_s` is the age of the oldest event waiting: the checkpoint has been at rest with
        work waiting for no longer than that, nor than since the last observation at which the
        projection was fine (probes may be minutes apart; the events' age is exact).
        """
        known = self._since.get(name)
        if known is None or known[0] != position or lag_events == 0:
            self._since[name] = (position, now)
            return None
        held = min(now - known[1], oldest_s)
        return Stall(position, lag_events, held) if held >= self.after_s else None
