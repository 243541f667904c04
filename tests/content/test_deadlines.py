"""Deadlines: durations, official working days, quiet hours, DST, local wording."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import chinese_calendar
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.content.deadlines import (
    DEFAULT_QUIET_HOURS,
    MAX_AMOUNT,
    UNITS,
    ChineseCalendar,
    Duration,
    QuietHours,
    Unit,
    WorkingDays,
    deliver_at,
    describe_local,
    due_at,
    local_instant,
    parse_schedule,
    tomorrow_morning,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
LORD_HOWE = ZoneInfo("Australia/Lord_Howe")  # 30-minute DST shift
QUIET = QuietHours(time(22, 0), time(8, 0))
CN = WorkingDays()


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def local(
    tz: ZoneInfo, year: int, month: int, day: int, hour: int = 0, minute: int = 0, fold: int = 0
) -> datetime:
    """A wall-clock time in `tz`; `fold=1` is the second of an ambiguous pair."""
    return datetime(year, month, day, hour, minute, tzinfo=tz, fold=fold)


# --- parsing -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "amount", "unit"),
    [
        ("30m", 30, "m"),
        ("24h", 24, "h"),
        ("3d", 3, "d"),
        ("15wd", 15, "wd"),
        ("1m", 1, "m"),
        (" 7d ", 7, "d"),
        ("007d", 7, "d"),
        ("3650d", 3650, "d"),
        (f"{MAX_AMOUNT['wd']}wd", MAX_AMOUNT["wd"], "wd"),
        (f"{MAX_AMOUNT['m']}m", MAX_AMOUNT["m"], "m"),
    ],
)
def test_parse_good_specs(spec: str, amount: int, unit: str) -> None:
    assert Duration.parse(spec) == Duration(amount, unit)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "spec",
    [
        "",
        "   ",
        "d",
        "wd",
        "15",
        "0d",
        "0wd",
        "-3d",
        "+3d",
        "3 d",
        "3D",
        "3w",
        "3s",
        "1.5h",
        "3dd",
        "3d7d",
        "3d,7d",
        "3651d",
        f"{MAX_AMOUNT['wd'] + 1}wd",
        f"{MAX_AMOUNT['h'] + 1}h",
        "１５wd",  # full-width digits
        "99999999999999999999d",
    ],
)
def test_parse_bad_specs(spec: str) -> None:
    with pytest.raises(ValueError, match=r"duration|between 1 and"):
        Duration.parse(spec)


def test_parse_refuses_non_strings() -> None:
    with pytest.raises(ValueError, match="expected a duration"):
        Duration.parse(15)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("amount", "unit"), [(0, "d"), (-1, "h"), (3, "w"), (True, "d"), (3651, "d"), (2.0, "d")]
)
def test_direct_construction_is_validated(amount: object, unit: object) -> None:
    with pytest.raises(ValueError):
        Duration(amount, unit)  # type: ignore[arg-type]


def _durations(units: tuple[Unit, ...] = UNITS) -> st.SearchStrategy[Duration]:
    return st.sampled_from(units).flatmap(
        lambda u: st.builds(Duration, st.integers(1, MAX_AMOUNT[u]), st.just(u))
    )


@given(_durations())
def test_str_round_trips(duration: Duration) -> None:
    assert Duration.parse(str(duration)) == duration


def test_working_days_have_no_fixed_length() -> None:
    assert Duration(3, "d").elapsed == timedelta(days=3)
    with pytest.raises(ValueError, match="working-day"):
        _ = Duration(3, "wd").elapsed


def test_parse_schedule() -> None:
    assert parse_schedule("24h,7d") == (Duration(24, "h"), Duration(7, "d"))
    assert parse_schedule("3d,7d,15wd") == (Duration(3, "d"), Duration(7, "d"), Duration(15, "wd"))
    assert parse_schedule(" 3d , 15wd ") == (Duration(3, "d"), Duration(15, "wd"))
    assert parse_schedule("30m") == (Duration(30, "m"),)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "comma-separated"),
        (" ", "comma-separated"),
        ("24h,,7d", "item 2 is empty"),
        ("24h,", "item 2 is empty"),
        (",24h", "item 1 is empty"),
        ("3d,3d", "more than once"),
        ("3d,7x", "item 2: expected a duration"),
        ("3d;7d", "item 1: expected a duration"),
    ],
)
def test_parse_schedule_refuses(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_schedule(spec)


# --- working days: the real chinese_calendar data ----------------------------------------


@pytest.mark.parametrize(
    "day",
    [date(2025, 9, 28), date(2025, 10, 11), date(2026, 2, 14), date(2026, 2, 28)],
)
def test_adjusted_weekend_workdays_are_working_days(day: date) -> None:
    assert day.weekday() >= 5  # a Saturday or Sunday…
    assert CN.is_working_day(day)  # …on which people work (调休)
    assert CN.covered(day)


@pytest.mark.parametrize(
    "day",
    [
        *(date(2025, 10, d) for d in range(1, 9)),  # National Day + Mid-Autumn 2025
        *(date(2026, 2, d) for d in range(15, 24)),  # Spring Festival 2026
        date(2025, 9, 27),  # an ordinary Saturday
    ],
)
def test_holidays_are_not_working_days(day: date) -> None:
    assert not CN.is_working_day(day)


def test_fifteen_working_days_across_national_day_2025() -> None:
    # From Thu 25 Sep 2025: Fri 26 (1), Sun 28 adjusted (2), Mon 29 (3), Tue 30 (4),
    # 1–8 Oct holiday, Thu 9 (5), Fri 10 (6), Sat 11 adjusted (7), Mon 13 … Fri 17 (8–12),
    # Mon 20 (13), Tue 21 (14), Wed 22 (15).
    assert CN.add(date(2025, 9, 25), 15) == date(2025, 10, 22)
    assert CN.add(date(2025, 9, 26), 1) == date(2025, 9, 28)
    assert CN.add(date(2025, 9, 30), 1) == date(2025, 10, 9)
    assert CN.add(date(2025, 10, 10), 1) == date(2025, 10, 11)
    # A plain Monday–Friday count would have said Thu 16 Oct.
    assert WorkingDays(_WeekdaysOnly()).add(date(2025, 9, 25), 15) == date(2025, 10, 16)


def test_fifteen_working_days_across_spring_festival_2026() -> None:
    # From Wed 11 Feb 2026: Thu 12 (1), Fri 13 (2), Sat 14 adjusted (3), 15–23 Feb holiday,
    # Tue 24 … Fri 27 (4–7), Sat 28 adjusted (8), Mon 2 … Fri 6 Mar (9–13), Mon 9 (14),
    # Tue 10 (15).
    assert CN.add(date(2026, 2, 11), 15) == date(2026, 3, 10)


def test_fifteen_working_days_across_national_day_2026() -> None:
    # From Fri 18 Sep 2026: Sun 20 adjusted (1), Mon 21 … Thu 24 (2–5), 25–27 Sep holiday,
    # Mon 28 … Wed 30 (6–8), 1–7 Oct holiday, Thu 8 (9), Fri 9 (10), Sat 10 adjusted (11),
    # Mon 12 … Thu 15 (12–15).
    assert CN.is_working_day(date(2026, 9, 20))
    assert CN.is_working_day(date(2026, 10, 10))
    assert CN.add(date(2026, 9, 18), 15) == date(2026, 10, 15)


def test_start_day_never_counts() -> None:
    assert CN.add(date(2026, 3, 2), 1) == date(2026, 3, 3)  # Monday → Tuesday
    assert CN.add(date(2026, 3, 6), 1) == date(2026, 3, 9)  # Friday → Monday
    assert CN.add(datetime(2026, 3, 6, 23, 0), 1) == date(2026, 3, 9)


@pytest.mark.parametrize("n", [0, -1, True, MAX_AMOUNT["wd"] + 1])
def test_add_refuses_bad_counts(n: int) -> None:
    with pytest.raises(ValueError, match="n must be"):
        CN.add(date(2026, 3, 2), n)


def test_uncovered_year_falls_back_to_weekdays_and_says_so() -> None:
    assert CN.covered(date(2026, 12, 31))
    for day in (date(2027, 1, 1), date(2027, 6, 1), date(2003, 5, 1), date(2100, 1, 1)):
        assert not CN.covered(day)
    # 2027: no official data yet → Monday–Friday, holidays unknown (1 Jan counts as work).
    assert CN.is_working_day(date(2027, 1, 1))  # Friday
    assert not CN.is_working_day(date(2027, 1, 2))  # Saturday
    assert CN.is_working_day(date(2027, 1, 4))  # Monday
    # Mon 28 Dec 2026: Tue 29 (1), Wed 30 (2), Thu 31 (3), Fri 1 Jan guessed (4), Mon 4 (5).
    due = CN.add(date(2026, 12, 28), 5)
    assert due == date(2027, 1, 4)
    assert CN.covered(date(2026, 12, 28)) and not CN.covered(due)


def test_default_calendar_is_chinese_calendar() -> None:
    assert ChineseCalendar().is_workday(date(2025, 9, 28))
    for _asked_again in range(2):  # the second answer is the kept one
        with pytest.raises(NotImplementedError):
            ChineseCalendar().is_workday(date(2099, 1, 5))


def test_kept_answers_are_the_packages_own() -> None:
    calendar = ChineseCalendar()
    days = [date(2023, 1, 1) + timedelta(days=n) for n in range(1096)]  # 2023 to 2025
    for _asked_again in range(2):
        assert [calendar.is_workday(d) for d in days] == [
            chinese_calendar.is_workday(d) for d in days
        ]


@settings(max_examples=60, deadline=None)
@given(st.dates(date(2004, 1, 1), date(2026, 12, 31)), st.integers(1, 40))
def test_add_lands_on_the_nth_working_day(start: date, n: int) -> None:
    result = CN.add(start, n)
    assert result > start
    assert CN.is_working_day(result)
    between = (start + timedelta(days=i) for i in range(1, (result - start).days + 1))
    assert sum(CN.is_working_day(d) for d in between) == n


# --- working days: a fake calendar -------------------------------------------------------


class _WeekdaysOnly:
    def is_workday(self, day: date, /) -> bool:
        return day.weekday() < 5


class _FakeCalendar:
    """Covers 2030 only: every Wednesday off, Saturday 5 Jan 2030 a workday."""

    def __init__(self) -> None:
        self.asked: list[date] = []

    def is_workday(self, day: date, /) -> bool:
        self.asked.append(day)
        if day.year != 2030:
            raise NotImplementedError(f"no data for {day.year}")
        if day == date(2030, 1, 5):
            return True
        return day.weekday() not in (2, 5, 6)


def test_injected_calendar() -> None:
    fake = _FakeCalendar()
    days = WorkingDays(fake)
    # Thu 3 Jan 2030: Fri 4 (1), Sat 5 workday (2), Mon 7 (3), Tue 8 (4), Wed off, Thu 10 (5).
    assert days.add(date(2030, 1, 3), 5) == date(2030, 1, 10)
    assert fake.asked and all(isinstance(d, date) for d in fake.asked)
    assert days.covered(date(2030, 7, 1)) and not days.covered(date(2031, 1, 1))
    # Past the fake's data: Monday–Friday, Wednesdays included.
    assert days.is_working_day(date(2031, 1, 1))
    # Mon 30 Dec 2030: Tue 31 (1), Wed 1 Jan 2031 guessed (2).
    assert days.add(date(2030, 12, 30), 2) == date(2031, 1, 1)


# --- due_at ------------------------------------------------------------------------------


def test_due_at_working_days_ends_at_18_local() -> None:
    start = local(SHANGHAI, 2025, 9, 25, 10, 0)
    due = due_at(start, Duration(15, "wd"), SHANGHAI, CN)
    assert due == local(SHANGHAI, 2025, 10, 22, 18, 0)
    assert due == utc(2025, 10, 22, 10, 0)
    assert due.tzinfo is UTC


def test_due_at_uses_the_local_date_of_the_start() -> None:
    # 17:00 UTC on Wed 24 Sep is already 01:00 on Thu 25 Sep in Shanghai.
    start = utc(2025, 9, 24, 17, 0)
    assert due_at(start, Duration(15, "wd"), SHANGHAI, CN) == utc(2025, 10, 22, 10, 0)
    # The same instant in UTC's own calendar starts a day earlier.
    assert due_at(start, Duration(15, "wd"), ZoneInfo("UTC"), CN) == utc(2025, 10, 21, 18, 0)


def test_due_at_working_days_custom_day_end() -> None:
    start = local(SHANGHAI, 2026, 2, 11, 9, 0)
    due = due_at(start, Duration(15, "wd"), SHANGHAI, CN, day_end=time(17, 30))
    assert due == local(SHANGHAI, 2026, 3, 10, 17, 30)


def test_due_at_working_days_across_dst_in_berlin() -> None:
    # Fri 27 Mar 2026 is CET (+1); Mon 30 Mar is CEST (+2): 18:00 local is 16:00 UTC.
    start = local(BERLIN, 2026, 3, 27, 12, 0)
    due = due_at(start, Duration(1, "wd"), BERLIN, WorkingDays(_WeekdaysOnly()))
    assert due == utc(2026, 3, 30, 16, 0)


def test_due_at_days_are_24_hours_even_across_dst() -> None:
    start = local(BERLIN, 2026, 3, 28, 12, 0)  # 11:00 UTC
    due = due_at(start, Duration(1, "d"), BERLIN, CN)
    assert due == utc(2026, 3, 29, 11, 0)
    assert due.astimezone(BERLIN).hour == 13  # the local wall clock moved on an hour


def test_due_at_refuses_naive_start() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        due_at(datetime(2026, 1, 5, 9, 0), Duration(3, "d"), SHANGHAI, CN)


@settings(max_examples=200)
@given(
    st.datetimes(datetime(2000, 1, 1), datetime(2040, 1, 1), timezones=st.just(UTC)),
    _durations(("m", "h", "d")),
    st.sampled_from([SHANGHAI, BERLIN, NEW_YORK, LORD_HOWE]),
)
def test_due_at_elapsed_units_are_exact(start: datetime, duration: Duration, tz: ZoneInfo) -> None:
    per_unit = {"m": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1)}
    delta = duration.amount * per_unit[duration.unit]
    due = due_at(start, duration, tz, CN)
    assert due == start + delta
    assert due.tzinfo is UTC


# --- quiet hours -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("wall", "expected"),
    [
        ((2026, 1, 5, 23, 30), (2026, 1, 6, 8, 0)),  # evening → next morning
        ((2026, 1, 5, 22, 0), (2026, 1, 6, 8, 0)),  # start is inside
        ((2026, 1, 6, 0, 0), (2026, 1, 6, 8, 0)),  # midnight → same morning
        ((2026, 1, 6, 7, 59), (2026, 1, 6, 8, 0)),
        ((2026, 12, 31, 23, 0), (2027, 1, 1, 8, 0)),  # across the new year
        ((2026, 1, 6, 8, 0), None),  # end is outside
        ((2026, 1, 5, 21, 59), None),
        ((2026, 1, 5, 12, 0), None),
    ],
)
def test_quiet_hours_wrap_midnight_in_shanghai(
    wall: tuple[int, ...], expected: tuple[int, ...] | None
) -> None:
    moment = local(SHANGHAI, *wall)
    shifted = QUIET.shift(moment, SHANGHAI)
    assert shifted == (local(SHANGHAI, *expected) if expected else moment)
    assert shifted.tzinfo is UTC
    assert QUIET.contains(moment, SHANGHAI) is (expected is not None)


def test_quiet_hours_that_do_not_wrap() -> None:
    lunch = QuietHours(time(12, 0), time(13, 30))
    assert lunch.shift(local(SHANGHAI, 2026, 1, 5, 12, 40), SHANGHAI) == local(
        SHANGHAI, 2026, 1, 5, 13, 30
    )
    moment = local(SHANGHAI, 2026, 1, 5, 23, 0)
    assert lunch.shift(moment, SHANGHAI) == moment


def test_disabled_quiet_hours_never_shift() -> None:
    off = QuietHours(time(22, 0), time(8, 0), enabled=False)
    moment = local(SHANGHAI, 2026, 1, 5, 23, 30)
    assert off.shift(moment, SHANGHAI) == moment
    assert QuietHours(time(8, 0), time(8, 0), enabled=False).shift(moment, SHANGHAI) == moment


def test_quiet_hours_refuse_equal_ends_and_aware_times() -> None:
    with pytest.raises(ValueError, match="equal"):
        QuietHours(time(8, 0), time(8, 0))
    with pytest.raises(ValueError, match="naive"):
        QuietHours(time(22, 0, tzinfo=UTC), time(8, 0))


def test_default_quiet_hours() -> None:
    assert QuietHours(time(22, 0), time(8, 0)) == DEFAULT_QUIET_HOURS


def test_urgent_reminders_are_not_shifted() -> None:
    due = local(SHANGHAI, 2026, 1, 5, 23, 30)
    assert deliver_at(due, SHANGHAI, QUIET, urgent=True) == due
    assert deliver_at(due, SHANGHAI, QUIET, urgent=False) == local(SHANGHAI, 2026, 1, 6, 8, 0)
    daytime = local(SHANGHAI, 2026, 1, 5, 15, 0)
    assert deliver_at(daytime, SHANGHAI, QUIET, urgent=False) == daytime


# --- DST in Europe/Berlin (2026: +1 → +2 on 29 Mar at 02:00, +2 → +1 on 25 Oct at 03:00) ---


def test_quiet_night_before_spring_forward_is_an_hour_shorter() -> None:
    moment = local(BERLIN, 2026, 3, 28, 23, 0)  # 22:00 UTC, CET
    shifted = QUIET.shift(moment, BERLIN)
    assert shifted == utc(2026, 3, 29, 6, 0)  # 08:00 CEST
    assert shifted - moment == timedelta(hours=8)


def test_quiet_night_before_fall_back_is_an_hour_longer() -> None:
    moment = local(BERLIN, 2026, 10, 24, 23, 0)  # 21:00 UTC, CEST
    shifted = QUIET.shift(moment, BERLIN)
    assert shifted == utc(2026, 10, 25, 7, 0)  # 08:00 CET
    assert shifted - moment == timedelta(hours=10)


def test_nonexistent_end_time_picks_the_later_instant() -> None:
    early = QuietHours(time(22, 0), time(2, 30))
    moment = local(BERLIN, 2026, 3, 29, 1, 0)  # 00:00 UTC; 02:00–03:00 does not exist
    shifted = early.shift(moment, BERLIN)
    assert shifted == utc(2026, 3, 29, 1, 30)  # 03:30 CEST, not 01:30 CET
    assert shifted.astimezone(BERLIN).time() == time(3, 30)
    assert local_instant(date(2026, 3, 29), time(2, 30), BERLIN) == shifted


def test_ambiguous_end_time_picks_the_later_instant() -> None:
    early = QuietHours(time(22, 0), time(2, 30))
    first_pass = local(BERLIN, 2026, 10, 25, 2, 10, fold=0)  # 00:10 UTC, CEST
    # (PEP 495: an ambiguous local time never compares equal across zones, so convert.)
    assert first_pass.astimezone(UTC) == utc(2026, 10, 25, 0, 10)
    shifted = early.shift(first_pass, BERLIN)
    assert shifted == utc(2026, 10, 25, 1, 30)  # the second 02:30 (CET)
    # After the clocks go back, 02:10 is quiet again and waits for the same 02:30.
    second_pass = local(BERLIN, 2026, 10, 25, 2, 10, fold=1)  # 01:10 UTC, CET
    assert second_pass.astimezone(UTC) == utc(2026, 10, 25, 1, 10)
    assert early.shift(second_pass, BERLIN) == shifted


def test_quiet_hours_whose_open_window_vanishes_in_the_gap() -> None:
    # Open only 02:30–02:45: on 29 Mar 2026 that window does not exist in Berlin.
    almost_always = QuietHours(time(2, 45), time(2, 30))
    moment = local(BERLIN, 2026, 3, 29, 1, 0)
    shifted = almost_always.shift(moment, BERLIN)
    assert shifted == local(BERLIN, 2026, 3, 30, 2, 30)
    assert not almost_always.contains(shifted, BERLIN)


_DST_DAYS = [utc(2026, 3, 8), utc(2026, 3, 29), utc(2026, 4, 5), utc(2026, 10, 4)]
_DST_DAYS += [utc(2026, 10, 25), utc(2026, 11, 1)]
_moments = st.one_of(
    st.datetimes(datetime(2004, 1, 1), datetime(2038, 1, 1), timezones=st.just(UTC)),
    st.builds(
        lambda base, minutes: base + timedelta(minutes=minutes),
        st.sampled_from(_DST_DAYS),
        st.integers(-48 * 60, 48 * 60),
    ),
)
_clock = st.builds(time, st.integers(0, 23), st.sampled_from([0, 15, 30, 45, 59]))


@settings(max_examples=400, deadline=None)
@given(
    _moments,
    st.sampled_from([SHANGHAI, BERLIN, NEW_YORK, LORD_HOWE]),
    _clock,
    _clock,
)
def test_shift_is_never_inside_quiet_hours_nor_earlier(
    moment: datetime, tz: ZoneInfo, start: time, end: time
) -> None:
    if start == end:
        return
    quiet = QuietHours(start, end)
    shifted = quiet.shift(moment, tz)
    assert shifted >= moment
    assert not quiet.contains(shifted, tz)
    assert shifted - moment <= timedelta(days=2)
    assert quiet.shift(shifted, tz) == shifted
    if not quiet.contains(moment, tz):
        assert shifted == moment


# --- tomorrow morning --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("wall", "expected"),
    [
        ((2026, 1, 5, 15, 0), (2026, 1, 6, 8, 0)),
        ((2026, 1, 5, 23, 30), (2026, 1, 6, 8, 0)),
        ((2026, 1, 5, 8, 0), (2026, 1, 6, 8, 0)),
        ((2026, 1, 6, 2, 0), (2026, 1, 6, 8, 0)),  # small hours: this same morning
        ((2026, 1, 6, 0, 0), (2026, 1, 6, 8, 0)),
    ],
)
def test_tomorrow_morning(wall: tuple[int, ...], expected: tuple[int, ...]) -> None:
    result = tomorrow_morning(local(SHANGHAI, *wall), SHANGHAI, QUIET)
    assert result == local(SHANGHAI, *expected)
    assert result.tzinfo is UTC


def test_tomorrow_morning_across_dst_in_berlin() -> None:
    assert tomorrow_morning(local(BERLIN, 2026, 3, 28, 21, 0), BERLIN, QUIET) == utc(
        2026, 3, 29, 6, 0
    )
    assert tomorrow_morning(local(BERLIN, 2026, 10, 24, 21, 0), BERLIN, QUIET) == utc(
        2026, 10, 25, 7, 0
    )


@settings(max_examples=200, deadline=None)
@given(_moments, st.sampled_from([SHANGHAI, BERLIN, NEW_YORK, LORD_HOWE]))
def test_tomorrow_morning_is_later_and_at_the_end_time(moment: datetime, tz: ZoneInfo) -> None:
    result = tomorrow_morning(moment, tz, QUIET)
    assert moment < result <= moment + timedelta(days=1, hours=1)
    assert result.astimezone(tz).time() == QUIET.end


# --- describe_local ----------------------------------------------------------------------

NOW = utc(2026, 11, 20, 3, 0)


def test_describe_local_in_both_locales() -> None:
    moment = local(SHANGHAI, 2026, 11, 23, 9, 0)
    assert describe_local(moment, SHANGHAI, "zh-CN", NOW) == "11月23日（周一）09:00"
    assert describe_local(moment, SHANGHAI, "en", NOW) == "Mon 23 Nov, 09:00"


def test_describe_local_uses_the_local_date() -> None:
    moment = utc(2026, 11, 22, 17, 5)  # Sunday in UTC, Monday 01:05 in Shanghai
    assert describe_local(moment, SHANGHAI, "zh-CN", NOW) == "11月23日（周一）01:05"
    assert describe_local(moment, BERLIN, "en", NOW) == "Sun 22 Nov, 18:05"


def test_describe_local_adds_the_year_only_when_it_differs() -> None:
    moment = local(SHANGHAI, 2027, 1, 4, 8, 0)
    assert describe_local(moment, SHANGHAI, "zh-CN", NOW) == "2027年1月4日（周一）08:00"
    assert describe_local(moment, SHANGHAI, "en", NOW) == "Mon 4 Jan 2027, 08:00"
    # "Now" is judged in local time too: 17:00 UTC on 31 Dec is already 2027 in Shanghai.
    new_year = utc(2026, 12, 31, 17, 0)
    assert describe_local(moment, SHANGHAI, "en", new_year) == "Mon 4 Jan, 08:00"


@pytest.mark.parametrize("locale", ["zh", "zh_CN", "zh-Hans-CN"])
def test_describe_local_locale_variants(locale: str) -> None:
    moment = local(SHANGHAI, 2026, 11, 29, 21, 30)
    assert describe_local(moment, SHANGHAI, locale, NOW) == "11月29日（周日）21:30"


def test_describe_local_refuses_unknown_locale() -> None:
    with pytest.raises(ValueError, match="unsupported locale"):
        describe_local(NOW, SHANGHAI, "fr", NOW)
