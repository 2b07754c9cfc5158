"""The terminal progress bar: count, rate and time left on a terminal; nothing in a pipe."""

from __future__ import annotations

import io

from ledger.cli.progress import eta, terminal_bar


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_in_a_pipe_there_is_no_bar():
    assert terminal_bar("verify", "events", stream=io.StringIO()) is None


def test_on_a_terminal_the_bar_shows_count_rate_and_time_left_then_ends_its_line():
    clock = iter([0.0, 10.0, 20.0])
    screen = Terminal()
    show = terminal_bar("verify", "events", stream=screen, clock=lambda: next(clock))
    assert show is not None
    show(250, 1000)  # after 10 s: 25/s, 750 more take 30 s
    assert "250/1,000 events 25/s, 0:30 left" in screen.getvalue()
    show(1000, 1000)
    assert screen.getvalue().endswith("0:00 left\n")


def test_the_time_left_is_unknown_before_any_progress():
    assert eta(0, 100, 5.0) == "--:--" and eta(50, 100, 0.0) == "--:--"
    assert eta(30, 90, 60.0) == "2:00"


def test_a_listing_of_unknown_length_shows_pages_records_and_rate_but_no_time_left():
    from ledger.cli.progress import terminal_counter

    assert terminal_counter("reconcile tango", stream=io.StringIO()) is None
    clock = iter([0.0, 4.0])
    screen = Terminal()
    show = terminal_counter("reconcile tango", stream=screen, clock=lambda: next(clock))
    assert show is not None
    show(2, 1000)
    assert screen.getvalue() == "\rreconcile tango: page 3, 1,000 records so far, 250/s"
