"""When a failed merchant delivery is tried again, and when it is given up."""

from datetime import UTC, datetime, timedelta

import pytest

from ledger.config import Settings
from ledger.webhooks.retries import (
    MAX_DELAY_S,
    MAX_RETRY_AFTER_S,
    backoff_s,
    next_attempt,
    retry_after_s,
)

T0 = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
DEFAULTS = Settings()


@pytest.mark.parametrize("draw", [0.0, 0.5, 0.999])
def test_backoff_doubles_from_the_base_with_half_of_it_drawn(draw):
    delays = [backoff_s(n, 5.0, draw) for n in range(1, 6)]
    assert delays == [c / 2 + c / 2 * draw for c in (5.0, 10.0, 20.0, 40.0, 80.0)]


def test_backoff_never_waits_more_than_an_hour():
    assert backoff_s(60, 5.0, 0.999) <= MAX_DELAY_S


def test_a_receiver_failing_twice_then_recovering_has_its_event_within_a_minute_by_default():
    # Worst case: both waits at the top of their range, and each attempt taking the timeout.
    first_retry = backoff_s(1, DEFAULTS.webhook_retry_base_s, 0.999)
    second_retry = backoff_s(2, DEFAULTS.webhook_retry_base_s, 0.999)
    assert first_retry + second_retry + 3 * DEFAULTS.webhook_timeout_s < 60


def test_retries_go_on_for_three_days_then_the_delivery_is_given_up():
    window = DEFAULTS.webhook_retry_window_s
    at, attempts = T0, 0
    while (
        following := next_attempt(attempts + 1, T0, at, base_s=5.0, window_s=window, draw=0.5)
    ) is not None:
        at, attempts = following, attempts + 1
    assert timedelta(days=3) - timedelta(hours=1) <= at - T0 <= timedelta(days=3)
    assert 90 <= attempts <= 110  # about a hundred, not thousands


def test_retry_after_wins_over_a_shorter_backoff_and_is_bounded():
    later = next_attempt(1, T0, T0, base_s=5.0, window_s=86400, draw=0.0, retry_after=120.0)
    assert later == T0 + timedelta(seconds=120)
    sooner = next_attempt(1, T0, T0, base_s=5.0, window_s=86400, draw=0.0, retry_after=1.0)
    assert sooner == T0 + timedelta(seconds=2.5)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("30", 30.0),
        (" 7 ", 7.0),
        ("Sat, 05 Dec 2026 12:01:00 GMT", 60.0),
        ("Sat, 05 Dec 2026 11:00:00 GMT", 0.0),
        ("99999999", MAX_RETRY_AFTER_S),
        ("soon", None),
        ("-5", None),
        ("\u00b2", None),  # a digit to str.isdigit, not to float(): it stopped every delivery
        ("\u0661\u0662", None),  # Arabic-Indic digits: delta-seconds are ASCII (RFC 9110)
        ("1" * 400, MAX_RETRY_AFTER_S),
        ("", None),
        (None, None),
    ],
)
def test_a_retry_after_header_is_read_as_seconds_or_a_date(header, seconds):
    assert retry_after_s(header, T0) == seconds
