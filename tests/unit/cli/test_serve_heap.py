"""freeze_startup_heap: what startup built leaves later collections, its garbage does not stay."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from ledger.cli.serve import freeze_startup_heap


class _Node:
    def __init__(self) -> None:
        self.other: _Node | None = None


@pytest.fixture
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()  # the rest of the suite's process collects as usual


@pytest.mark.usefixtures("unfrozen")
def test_objects_alive_at_startup_are_frozen_out_of_later_collections() -> None:
    kept = _Node()
    assert any(o is kept for o in gc.get_objects())  # in a generation a collection walks
    freeze_startup_heap()
    assert not any(o is kept for o in gc.get_objects())  # in none of them any more
    assert gc.get_freeze_count() > 0


@pytest.mark.usefixtures("unfrozen")
def test_startup_garbage_is_collected_before_the_freeze_not_kept_for_good() -> None:
    first, second = _Node(), _Node()
    first.other, second.other = second, first  # a cycle only a collection frees
    gone = weakref.ref(first)
    del first, second
    freeze_startup_heap()
    assert gone() is None
