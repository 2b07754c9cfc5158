"""StallWatch: a checkpoint at rest while events wait is a stall; moving or idle is not."""

from projections.stalls import Stall, StallWatch

OLD = 1e9  # events waiting far longer than any probe interval


def test_a_checkpoint_at_rest_with_events_waiting_stalls_after_the_bound():
    watch = StallWatch(after_s=60)
    assert watch.observe("orders", 10, 0, 0, now=0) is None  # idle: nothing to apply
    assert watch.observe("orders", 10, 1, OLD, now=30) is None
    assert watch.observe("orders", 10, 1, OLD, now=60) == Stall(10, 1, 60)


def test_a_moving_checkpoint_never_stalls_however_far_behind():
    watch = StallWatch(after_s=60)
    for minute, position in enumerate(range(0, 500_000, 50_000)):
        assert watch.observe("gl", position, 900_000, OLD, now=60.0 * minute) is None


def test_a_stall_is_never_longer_than_the_oldest_waiting_event_is_old():
    watch = StallWatch(after_s=60)
    for minute in range(10):
        assert watch.observe("gl", 5, 0, 0, now=60.0 * minute) is None
    # Ten minutes between probes, but the events came 59 s ago: not yet a stall.
    assert watch.observe("gl", 5, 3, 59, now=1140) is None
    assert watch.observe("gl", 5, 3, 61, now=1142) == Stall(5, 3, 61)


def test_projections_are_watched_apart():
    watch = StallWatch(after_s=1)
    watch.observe("a", 1, 1, OLD, now=0)
    watch.observe("b", 1, 1, OLD, now=0)
    assert watch.observe("a", 1, 1, OLD, now=2) is not None
    assert watch.observe("b", 2, 1, OLD, now=2) is None
