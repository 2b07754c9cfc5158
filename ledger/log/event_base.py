"""The base of every event (ledger/log/events.py has the catalog and its one tagged union)."""

from __future__ import annotations

import msgspec


class Event(msgspec.Struct, frozen=True, kw_only=True, tag=True, omit_defaults=True, gc=False):
    """Base of every event; the JSON "type" field names the subclass.

    gc=False: events are immutable values that never form reference cycles, so the cycle
    collector need not track them (a rebuild decodes millions).
    """
