"""Stored events must decode forever: fixtures of every type, byte-exact round trips."""

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
