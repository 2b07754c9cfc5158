"""A vendor's words as the log keeps them: prose shown with its control characters escaped,
names and statuses in a webhook refused when they hold one."""

from datetime import UTC, datetime

import pytest

from ledger.log import events as ev
from ledger.orders.journal import outcome_event
from ledger.text import printable
from ledger.vendors.base import MalformedWebhook, Rejected, Unknown, WebhookHint

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def test_printable_escapes_c0_and_c1_controls_and_keeps_every_other_character():
    assert printable("tab\there\x00\x1b[2J\x7f\x9b") == "tab\\x09here\\x00\\x1b[2J\\x7f\\x9b"
    assert printable("Überweisung 25,00 € — ok ✓") == "Überweisung 25,00 € — ok ✓"


def test_an_attempt_whose_vendor_text_holds_nul_still_encodes_as_an_event():
    failed = outcome_event("tango", 1, Unknown("server_error", "busy\x00"), NOW)
    refused = outcome_event("tango", 2, Rejected("bad\x00code", "msg\x00", 422), NOW)
    for event in (failed, refused):
        assert ev.decode(ev.encode(event)) == event
    assert failed.detail == "busy\\x00"
    assert (refused.code, refused.message) == ("bad\\x00code", "msg\\x00")


@pytest.mark.parametrize("field", ["event_type", "webhook_id", "reference", "vendor_order_id"])
def test_a_webhook_hint_naming_something_with_a_control_character_is_malformed(field):
    fields = {"event_type": "order.fulfilled", field: "ref\x00"}
    with pytest.raises(MalformedWebhook, match=f"webhook's {field} holds a control character"):
        WebhookHint(**fields)
