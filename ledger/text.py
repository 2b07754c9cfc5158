"""What text from outside (a vendor, a merchant's webhook receiver) may carry into the log."""

from __future__ import annotations

import re

# C0 and C1 controls: NUL cannot be stored in PostgreSQL's text or jsonb (an event holding one
# fails its append, ledger/log/events.py), and the others repaint the terminal of whoever reads
# the log.
CONTROL_CHARACTERS = re.compile("[\x00-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """Someone else's prose (a vendor's error, a webhook receiver's answer) as the log keeps it:
    control characters written out as \\xNN, so nothing they say can stop the event recording
    it from being appended."""
    return CONTROL_CHARACTERS.sub(lambda control: f"\\x{ord(control[0]):02x}", text)
