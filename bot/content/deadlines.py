"""Deadlines and reminder times: durations, working days, quiet hours, local wording.

Pure functions and small frozen values: no I/O, no database, no clock of their own (every
"now" is an argument). Instants go in and come out as *aware* datetimes; every instant this
module computes is returned in UTC. Local wall-clock reasoning happens in the case's
`ZoneInfo` time zone.

Rules, stated once:

- **Elapsed units** `m`, `h`, `d` are exact elapsed time: ``1d`` is 24 hours even across a
  daylight-saving change (the local wall clock may then read 23:00 or 01:00 instead of
  midnight-to-midnight).
- **Working days** `wd`: the deadline is the END of the n-th working day after the local
  date of the start, in the case's time zone. "End" is ``day_end`` local time (default
  18:00); the start's own date never counts, whatever the time of day. Working days are
  mainland China's official ones from the maintained ``chinesecalendar`` package: Monday to
  Friday, minus public holidays, plus the adjusted weekend workdays (调休).
- **Uncovered years**: ``chinesecalendar`` only knows the years the State Council has
  published. For any other year `WorkingDays` falls back to plain Monday–Friday and
  `WorkingDays.covered` says False for those dates, so callers can log that the calendar
  package needs an update instead of trusting a guess.
- **Local times that do not exist or exist twice** (DST gaps and overlaps): the later valid
  instant wins. An ambiguous 02:30 is the second 02:30; a nonexistent 02:30 is read with
  the offset in force before the gap, i.e. the wall clock moves forward by the gap
  (02:30 → 03:30 in Europe/Berlin on the spring-forward night).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Final, Literal, Protocol, cast, get_args
from zoneinfo import ZoneInfo

import chinese_calendar

Unit = Literal["m", "h", "d", "wd"]
UNITS: Final[tuple[Unit, ...]] = get_args(Unit)

#: About ten years in each unit; anything longer is a typo, not a deadline.
MAX_DAYS: Final = 3650
MAX_AMOUNT: Final[dict[Unit, int]] = {
    "m": MAX_DAYS * 24 * 60,
    "h": MAX_DAYS * 24,
    "d": MAX_DAYS,
    "wd": MAX_DAYS * 5 // 7,
}
_ELAPSED: Final[dict[Unit, timedelta]] = {
    "m": timedelta(minutes=1),
    "h": timedelta(hours=1),
    "d": timedelta(days=1),
}
_SPEC: Final = re.compile(r"([0-9]{1,9})(wd|m|h|d)", re.ASCII)
_EXPECTED: Final = 'expected a duration such as "30m", "24h", "3d" or "15wd" (working days)'

#: Default local time at which a working day ends, for "wd" deadlines.
DEFAULT_DAY_END: Final = time(18, 0)


# --- durations ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Duration:
    """A deadline length: `amount` minutes, hours, days (24 h) or working days."""

    amount: int
    unit: Unit

    def __post_init__(self) -> None:
        if self.unit not in UNITS:
            raise ValueError(f"unknown duration unit {self.unit!r}; expected one of {UNITS}")
        if isinstance(self.amount, bool) or not isinstance(self.amount, int):
            raise ValueError(f"duration amount must be an int, got {self.amount!r}")
        limit = MAX_AMOUNT[self.unit]
        if not 1 <= self.amount <= limit:
            raise ValueError(
                f"duration amount must be between 1 and {limit} for unit {self.unit!r} "
                f"(about {MAX_DAYS} days), got {self.amount}"
            )

    @classmethod
    def parse(cls, spec: str) -> Duration:
        """ "30m", "24h", "3d", "15wd" → Duration. Surrounding spaces are allowed."""
        if not isinstance(spec, str):
            raise ValueError(f"{_EXPECTED}, got {spec!r}")
        match = _SPEC.fullmatch(spec.strip())
        if match is None:
            raise ValueError(f"{_EXPECTED}, got {spec!r}")
        return cls(int(match.group(1)), cast(Unit, match.group(2)))

    @property
    def is_working_days(self) -> bool:
        return self.unit == "wd"

    @property
    def elapsed(self) -> timedelta:
        """The exact elapsed time of an m/h/d duration; working days have none."""
        if self.unit == "wd":
            raise ValueError("a working-day duration has no fixed length; use due_at()")
        return self.amount * _ELAPSED[self.unit]

    def __str__(self) -> str:
        return f"{self.amount}{self.unit}"


def parse_schedule(spec: str) -> tuple[Duration, ...]:
    """ "3d,7d,15wd" → (3d, 7d, 15wd), in the given order, each measured from the same start.

    Empty specs, empty items ("24h,,7d") and repeated items are refused.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f'expected a comma-separated schedule such as "24h,7d", got {spec!r}')
    durations: list[Duration] = []
    for position, item in enumerate(spec.split(","), start=1):
        if not item.strip():
            raise ValueError(f"schedule {spec!r}: item {position} is empty")
        try:
            duration = Duration.parse(item)
        except ValueError as error:
            raise ValueError(f"schedule {spec!r}: item {position}: {error}") from None
        if duration in durations:
            raise ValueError(f"schedule {spec!r}: {duration} appears more than once")
        durations.append(duration)
    return tuple(durations)


# --- working days ------------------------------------------------------------------------


class WorkdayCalendar(Protocol):
    """Anything that says whether people work on a date.

    Raises NotImplementedError for dates it has no data for (as ``chinese_calendar`` does).
    """

    def is_workday(self, day: date, /) -> bool: ...


class ChineseCalendar:
    """Mainland China's official calendar, from the maintained ``chinesecalendar`` package."""

    def is_workday(self, day: date, /) -> bool:
        found = _chinese_workday(day)
        if found is None:
            raise NotImplementedError(f"chinesecalendar has no data for {day.year}")
        return found


@functools.lru_cache(maxsize=4096)
def _chinese_workday(day: date) -> bool | None:
    """Kept once asked: the package checks every call's year against a scan of its whole
    table (tens of microseconds), and a deadline asks about each day it counts. Its data
    does not change while Haven runs."""
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:
        return None


class WorkingDays:
    """Working-day arithmetic over an injectable calendar (default: `ChineseCalendar`).

    For dates the calendar does not cover, Monday–Friday is assumed and `covered` is False.
    With ``chinesecalendar`` the covered years are one contiguous range, so a result is
    trustworthy when `covered` is True for both the start and the result.
    """

    def __init__(self, calendar: WorkdayCalendar | None = None) -> None:
        self._calendar: WorkdayCalendar = calendar if calendar is not None else ChineseCalendar()

    def _lookup(self, day: date) -> bool | None:
        try:
            return self._calendar.is_workday(_as_date(day))
        except NotImplementedError:
            return None

    def covered(self, day: date) -> bool:
        """Whether the calendar has official data for `day` (False: Monday–Friday guessed)."""
        return self._lookup(day) is not None

    def is_working_day(self, day: date) -> bool:
        found = self._lookup(day)
        if found is None:
            return _as_date(day).weekday() < 5
        return found

    def add(self, start: date, n: int) -> date:
        """The n-th working day after `start` (n >= 1); `start` itself never counts."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"n must be an int >= 1, got {n!r}")
        if n > MAX_AMOUNT["wd"]:
            raise ValueError(f"n must be at most {MAX_AMOUNT['wd']}, got {n}")
        day = _as_date(start)
        remaining = n
        while remaining:
            day += timedelta(days=1)
            if self.is_working_day(day):
                remaining -= 1
        return day


def _as_date(day: date) -> date:
    """A plain date, also when handed a datetime (a date subclass)."""
    if isinstance(day, datetime):
        return day.date()
    return day


# --- instants ----------------------------------------------------------------------------


def _require_aware(moment: datetime, name: str) -> None:
    if not isinstance(moment, datetime):
        raise TypeError(f"{name} must be a datetime, got {type(moment).__name__}")
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware (UTC), got naive {moment.isoformat()}")


def local_instant(day: date, at: time, tz: ZoneInfo) -> datetime:
    """The UTC instant of wall-clock `at` on `day` in `tz`.

    DST gaps and overlaps: the later of the two possible readings (see module docstring).
    """
    if at.tzinfo is not None:
        raise ValueError(f"local time must be naive (a wall-clock time), got {at.isoformat()}")
    naive = datetime.combine(day, at)
    # Compare in UTC: aware datetimes sharing a tzinfo compare by wall time, ignoring fold.
    first = naive.replace(tzinfo=tz, fold=0).astimezone(UTC)
    second = naive.replace(tzinfo=tz, fold=1).astimezone(UTC)
    return max(first, second)


def due_at(
    start: datetime,
    duration: Duration,
    tz: ZoneInfo,
    workdays: WorkingDays,
    *,
    day_end: time = DEFAULT_DAY_END,
) -> datetime:
    """When a deadline of `duration` counted from `start` falls due, in UTC.

    m/h/d: exactly ``start + amount × unit`` (d = 24 h). wd: `day_end` local time in `tz`
    on the `amount`-th working day after the local date of `start`.
    """
    _require_aware(start, "start")
    start_utc = start.astimezone(UTC)
    if duration.unit != "wd":
        return start_utc + duration.elapsed
    day = workdays.add(start_utc.astimezone(tz).date(), duration.amount)
    return local_instant(day, day_end, tz)


# --- quiet hours -------------------------------------------------------------------------


@dataclass(frozen=True)
class QuietHours:
    """Local hours in which non-urgent reminders wait. ``start <= t < end``; may wrap midnight.

    Equal `start` and `end` are refused while enabled (never quiet? always quiet?), as in
    the configuration.
    """

    start: time
    end: time
    enabled: bool = True

    def __post_init__(self) -> None:
        for name, value in (("start", self.start), ("end", self.end)):
            if not isinstance(value, time) or value.tzinfo is not None:
                raise ValueError(f"quiet hours {name} must be a naive time, got {value!r}")
        if self.enabled and self.start == self.end:
            raise ValueError(
                "quiet hours start and end are equal; disable quiet hours to turn them off"
            )

    def contains_time(self, wall: time) -> bool:
        """Whether a local wall-clock time is inside the quiet hours."""
        if not self.enabled:
            return False
        wall = wall.replace(tzinfo=None, fold=0)
        if self.start < self.end:
            return self.start <= wall < self.end
        return wall >= self.start or wall < self.end

    def contains(self, moment: datetime, tz: ZoneInfo) -> bool:
        """Whether the instant `moment` falls in the quiet hours of `tz`."""
        _require_aware(moment, "moment")
        return self.contains_time(moment.astimezone(tz).time())

    def shift(self, moment: datetime, tz: ZoneInfo) -> datetime:
        """`moment` if it is outside quiet hours, else the next local `end` time; in UTC.

        The result is never earlier than `moment` and never inside quiet hours. (If a DST
        gap swallows the whole non-quiet window of a day, the next day's `end` is used.)
        """
        _require_aware(moment, "moment")
        moment_utc = moment.astimezone(UTC)
        if not self.contains(moment_utc, tz):
            return moment_utc
        local = moment_utc.astimezone(tz)
        day = local.date()
        if self.start > self.end and local.time() >= self.start:
            day += timedelta(days=1)  # evening part of a span that wraps midnight
        for _ in range(3):
            candidate = local_instant(day, self.end, tz)
            if candidate >= moment_utc and not self.contains(candidate, tz):
                return candidate
            day += timedelta(days=1)
        raise AssertionError(f"no instant outside quiet hours near {moment_utc.isoformat()}")


#: Haven's default quiet hours: 22:00–08:00 local time.
DEFAULT_QUIET_HOURS: Final = QuietHours(time(22, 0), time(8, 0))


def deliver_at(due: datetime, tz: ZoneInfo, quiet: QuietHours, urgent: bool) -> datetime:
    """When to send a reminder due at `due`: urgent ones at once, others after quiet hours."""
    _require_aware(due, "due")
    if urgent:
        return due.astimezone(UTC)
    return quiet.shift(due, tz)


def tomorrow_morning(now: datetime, tz: ZoneInfo, quiet: QuietHours) -> datetime:
    """ "Snooze until tomorrow morning": the quiet-hours `end` time on the next local day.

    In the small hours (local time before today's `end`) that is this same morning. The
    `end` time defines "morning" even when quiet hours are disabled.
    """
    _require_aware(now, "now")
    now_utc = now.astimezone(UTC)
    local = now_utc.astimezone(tz)
    day = local.date()
    if local.time() >= quiet.end:
        day += timedelta(days=1)
    candidate = local_instant(day, quiet.end, tz)
    if candidate <= now_utc:  # defensive: keep "later than now" whatever the zone does
        candidate = local_instant(day + timedelta(days=1), quiet.end, tz)
    return candidate


# --- wording -----------------------------------------------------------------------------

_WEEKDAYS_ZH: Final = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")
_WEEKDAYS_EN: Final = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS_EN: Final = (
    "Jan",
    "Feb",
    "Mar",
    "Apr",
    "May",
    "Jun",
    "Jul",
    "Aug",
    "Sep",
    "Oct",
    "Nov",
    "Dec",
)


def describe_local(moment: datetime, tz: ZoneInfo, locale: str, now: datetime) -> str:
    """When `moment` is, in the victim's local time and language.

    zh-CN: "11月23日（周一）09:00"; en: "Mon 23 Nov, 09:00". The year is added
    ("2027年11月23日（周一）09:00", "Mon 23 Nov 2027, 09:00") only when it differs from the
    local year of `now`. Locales: "zh…" → Chinese, "en…" → English; others are refused.
    Names come from fixed tables, never from the process's C locale.
    """
    _require_aware(moment, "moment")
    _require_aware(now, "now")
    local = moment.astimezone(tz)
    show_year = local.year != now.astimezone(tz).year
    clock = f"{local.hour:02d}:{local.minute:02d}"
    language = locale.replace("_", "-").split("-")[0].lower()
    if language == "zh":
        year = f"{local.year}年" if show_year else ""
        weekday = _WEEKDAYS_ZH[local.weekday()]
        return f"{year}{local.month}月{local.day}日（{weekday}）{clock}"
    if language == "en":
        year = f" {local.year}" if show_year else ""
        weekday = _WEEKDAYS_EN[local.weekday()]
        return f"{weekday} {local.day} {_MONTHS_EN[local.month - 1]}{year}, {clock}"
    raise ValueError(f'unsupported locale {locale!r}; expected "zh-CN" or "en"')
