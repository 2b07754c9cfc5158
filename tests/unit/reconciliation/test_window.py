"""Reconciliation windows, the nightly schedule and page backoff: pure time arithmetic."""

from datetime import UTC, date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from ledger.reconciliation.runs import DEFAULT_OVERLAP, scheduled_window
from ledger.reconciliation.window import (
    PAGE_BACKOFF_MAX_S,
    WindowError,
    check_window,
    days_to_catch_up,
    due_business_date,
    next_run_at,
    page_backoff,
    previous_business_date,
    scheduled_run_id,
)

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def test_a_utc_business_day_is_midnight_to_midnight_widened_by_the_overlap_on_both_sides():
    start, end = scheduled_window(date(2024, 5, 1), UTC, timedelta(hours=1))
    assert (start, end) == (utc(2024, 4, 30, 23), utc(2024, 5, 2, 1))


def test_the_window_follows_the_business_zone_midnights():
    start, end = scheduled_window(date(2024, 5, 1), BERLIN, timedelta(0))
    assert (start, end) == (utc(2024, 4, 30, 22), utc(2024, 5, 1, 22))


def test_a_spring_forward_day_is_23_hours_and_a_fall_back_day_25_hours_long():
    spring = scheduled_window(date(2024, 3, 31), BERLIN, timedelta(0))
    autumn = scheduled_window(date(2024, 10, 27), BERLIN, timedelta(0))
    assert spring[1] - spring[0] == timedelta(hours=23)
    assert autumn[1] - autumn[0] == timedelta(hours=25)


def test_consecutive_days_overlap_by_twice_the_overlap_and_leave_no_gap():
    _, monday_end = scheduled_window(date(2024, 3, 10), NEW_YORK)
    tuesday_start, _ = scheduled_window(date(2024, 3, 11), NEW_YORK)
    assert monday_end - tuesday_start == 2 * DEFAULT_OVERLAP


def test_a_negative_overlap_is_refused():
    with pytest.raises(ValueError, match="negative"):
        scheduled_window(date(2024, 5, 1), UTC, timedelta(minutes=-1))


def test_before_the_nightly_time_the_due_day_is_the_day_before_yesterday():
    assert due_business_date(utc(2024, 5, 3, 1, 59), UTC, time(2, 0)) == date(2024, 5, 1)
    assert due_business_date(utc(2024, 5, 3, 2, 0), UTC, time(2, 0)) == date(2024, 5, 2)


def test_the_nightly_time_is_local_to_the_business_zone():
    # 02:00 in Berlin (summer, +02:00) is midnight UTC.
    assert due_business_date(utc(2024, 5, 3, 0, 0), BERLIN, time(2, 0)) == date(2024, 5, 2)
    assert next_run_at(utc(2024, 5, 2, 23, 0), BERLIN, time(2, 0)) == utc(2024, 5, 3, 0, 0)


def test_the_next_run_is_strictly_after_now():
    assert next_run_at(utc(2024, 5, 3, 2, 0), UTC, time(2, 0)) == utc(2024, 5, 4, 2, 0)
    assert next_run_at(utc(2024, 5, 3, 1, 0), UTC, time(2, 0)) == utc(2024, 5, 3, 2, 0)


def test_a_nightly_time_inside_the_spring_forward_gap_still_fires_that_day():
    fire = next_run_at(utc(2024, 3, 30, 23, 0), BERLIN, time(2, 30))
    assert fire.date() == date(2024, 3, 31) and fire > utc(2024, 3, 30, 23, 0)


def test_the_previous_business_date_is_yesterday_in_the_zone_not_in_utc():
    assert previous_business_date(utc(2024, 5, 2, 23, 30), BERLIN) == date(2024, 5, 2)
    assert previous_business_date(utc(2024, 5, 2, 23, 30), UTC) == date(2024, 5, 1)


def test_scheduled_run_ids_are_the_same_on_every_node():
    assert scheduled_run_id("sandbox", date(2024, 5, 1)) == "scheduled-sandbox-2024-05-01"


def test_a_reversed_or_empty_window_names_the_to_field():
    with pytest.raises(WindowError) as reversed_:
        check_window(utc(2024, 5, 2), utc(2024, 5, 1))
    with pytest.raises(WindowError) as empty:
        check_window(utc(2024, 5, 2), utc(2024, 5, 2))
    assert reversed_.value.field == empty.value.field == "to"


def test_a_window_bound_without_an_offset_is_refused_by_name():
    with pytest.raises(WindowError) as naive:
        check_window(datetime(2024, 5, 1), utc(2024, 5, 2))
    assert naive.value.field == "from"


def test_a_window_longer_than_a_month_is_refused_and_any_offset_is_accepted():
    with pytest.raises(WindowError, match="31 days"):
        check_window(utc(2024, 1, 1), utc(2024, 3, 1))
    plus_five = timezone(timedelta(hours=5))
    check_window(datetime(2024, 5, 1, tzinfo=plus_five), utc(2024, 5, 2))


def test_page_backoff_doubles_and_is_bounded():
    delays = [page_backoff(retry) for retry in range(10)]
    assert delays[:5] == [1.0, 2.0, 4.0, 8.0, 16.0]
    assert max(delays) == PAGE_BACKOFF_MAX_S


def test_page_backoff_honours_retry_after_up_to_the_bound():
    assert page_backoff(0, retry_after=7.0) == 7.0
    assert page_backoff(0, retry_after=3600.0) == PAGE_BACKOFF_MAX_S
    assert page_backoff(3, retry_after=1.0) == 8.0


def test_a_schedule_catches_up_every_missed_day_but_none_before_the_log_began():
    due = date(2024, 5, 10)
    assert days_to_catch_up(due, earliest=due, lookback=7) == [due]
    two_missed = days_to_catch_up(due, earliest=date(2024, 5, 1), lookback=3)
    assert two_missed == [date(2024, 5, 8), date(2024, 5, 9), due]
    assert days_to_catch_up(due, earliest=date(2024, 5, 9), lookback=7) == [date(2024, 5, 9), due]


@pytest.mark.parametrize(
    "start",
    [
        datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=1))),
        utc(1969, 12, 31),
    ],
    ids=["no_utc_moment", "before_1970"],
)
def test_a_window_outside_the_years_a_record_can_hold_is_refused(start):
    with pytest.raises(WindowError, match="1970 to 2199") as refused:
        check_window(start, start + timedelta(days=1))
    assert refused.value.field == "from"
