"""Where a Tango listing is: the windows still to list (the first being listed) and its page.

Pure. Tango answers at most a capped number of orders per query, so a window that holds more
is halved, and the halves are listed one after the other; the cursor carries them between
calls, so a reconciliation run resumed after a crash goes on where it was.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime, timedelta

import msgspec

# A window is not halved below this. A millisecond holding more orders than the cap cannot be
# listed completely by any split, and the listing then fails saying so. (Whether Tango honours
# sub-second bounds is unconfirmed; if it does not, a split returns the same orders twice, each
# half keeps only its own, and a window still over the cap ends in the same failure.)
MIN_WINDOW = timedelta(milliseconds=1)

Window = tuple[datetime, datetime]


class ListingCursor(msgspec.Struct, frozen=True, array_like=True):
    windows: tuple[Window, ...]
    page: int = 0

    @classmethod
    def first(cls, start: datetime, end: datetime) -> ListingCursor:
        return cls(((start, end),))

    def can_split(self) -> bool:
        start, end = self.windows[0]
        return end - start >= 2 * MIN_WINDOW

    def split(self) -> ListingCursor:
        start, end = self.windows[0]
        middle = start + (end - start) / 2
        return ListingCursor(((start, middle), (middle, end), *self.windows[1:]))

    def after_page(self, *, more: bool) -> ListingCursor | None:
        """The next page of this window, else the next window, else None (the listing ends)."""
        if more:
            return ListingCursor(self.windows, self.page + 1)
        if len(self.windows) > 1:
            return ListingCursor(self.windows[1:])
        return None

    def encode(self) -> str:
        return base64.urlsafe_b64encode(msgspec.json.encode(self)).decode()

    @classmethod
    def decode(cls, cursor: str) -> ListingCursor:
        try:
            state = msgspec.json.decode(base64.urlsafe_b64decode(cursor), type=cls)
        except (binascii.Error, ValueError, msgspec.DecodeError) as exc:
            raise ValueError("cursor was not issued by this Tango listing") from exc
        if not state.windows or state.page < 0:
            raise ValueError("cursor was not issued by this Tango listing")
        return state
