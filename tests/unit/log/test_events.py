"""Stored events must decode forever: fixtures of every type, byte-exact round trips."""

from datetime import UTC, datetime
from pathlib import Path

import msgspec
import pytest

from ledger.log import events as ev

FIXTURES = Path(__file__).parent / "fixtures" / "events"
FIXTURE_FILES = sorted(FIXTURES.glob("*.json"))


def test_every_event_type_has_a_stored_fixture():
    covered = {path.name.split(".")[0] for path in FIXTURE_FILES}
    assert covered == {t.__name__ for t in ev.EVENT_TYPES}


@pytest.mark.parametrize("path", FIXTURE_FILES, ids=lambda p: p.name)
def test_a_stored_event_decodes_and_reencodes_to_the_same_bytes(path):
    stored = path.read_bytes()
    event = ev.decode(stored)
    assert ev.type_name(event) == path.name.split(".")[0]
    assert ev.encode(event) == stored


def test_an_unknown_event_type_is_refused():
    with pytest.raises(msgspec.ValidationError):
        ev.decode(b'{"type":"OrderTeleported","at":"2026-01-01T00:00:00Z"}')


def test_money_fields_refuse_floats():
    stored = (
        (FIXTURES / "OrderRefunded.json")
        .read_bytes()
        .replace(b'"amount_minor":2500', b'"amount_minor":25.0')
    )
    with pytest.raises(msgspec.ValidationError, match="amount_minor"):
        ev.decode(stored)


@pytest.mark.parametrize(
    ("reason", "stored"),
    [
        ("ok\x00", False),  # NUL: PostgreSQL's text and jsonb cannot hold it
        ("a backslash, then NUL: \\\x00", False),
        ("the six characters \\u0000, escaped", True),
        ("two backslashes and u0000: \\\\u0000", True),
    ],
)
def test_an_event_holding_nul_is_refused_before_it_reaches_the_log(reason, stored):
    failed = ev.OrderFailed(
        reason=reason, source="vendor", failed_at=datetime(2026, 1, 1, tzinfo=UTC)
    )
    if stored:
        assert ev.decode(ev.encode(failed)) == failed
    else:
        with pytest.raises(ValueError, match="NUL"):
            ev.encode(failed)
