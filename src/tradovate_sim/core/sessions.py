"""Trading sessions: when a product's market is open, and which trade date a moment belongs to.

Pure: a `Schedule` is a value built elsewhere (the venue's calendar adapter); the functions here only
search it. Every datetime is timezone-aware; intervals are half-open, `[open, close)`.
"""

from bisect import bisect_left, bisect_right
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from itertools import pairwise
from operator import attrgetter
from zoneinfo import ZoneInfo

import msgspec

__all__ = ["CME_TIME_ZONE", "Interval", "Schedule", "close_after", "is_open", "is_weekday", "next_open", "trade_date"]

CME_TIME_ZONE = "America/Chicago"
"""The time zone CME Globex keeps its clock in."""

_TRADE_DATE_ROLL = time(17, 0)
"""Local time (CT) from which a new Globex session, and so the next trade date, begins."""

_MAX_ROLL_DAYS = 31
"""A trade date further than this from the wall-clock date means the business-day rule is broken."""


class Interval(msgspec.Struct, frozen=True, kw_only=True):
    """One continuous stretch of trading, `[open, close)`, in aware datetimes."""

    open: datetime
    close: datetime

    def __post_init__(self) -> None:
        if self.open.tzinfo is None or self.close.tzinfo is None:
            raise ValueError("interval bounds must be timezone-aware")
        if not self.open < self.close:
            raise ValueError(f"interval opens at {self.open} but closes at {self.close}")


class Schedule(msgspec.Struct, frozen=True, kw_only=True):
    """A product's open intervals over a window of dates, sorted and disjoint."""

    intervals: tuple[Interval, ...] = ()

    def __post_init__(self) -> None:
        for earlier, later in pairwise(self.intervals):
            if later.open < earlier.close:
                raise ValueError(f"intervals overlap or are unsorted at {later.open}")


_open_of: Callable[[Interval], datetime] = attrgetter("open")  # a bisection key without a Python frame per probe


def is_open(schedule: Schedule, now: datetime) -> bool:
    """Whether `now` falls inside one of the schedule's intervals (binary search)."""
    index = bisect_right(schedule.intervals, now, key=_open_of) - 1
    return index >= 0 and now < schedule.intervals[index].close


def next_open(schedule: Schedule, now: datetime) -> datetime | None:
    """The first session open at or after `now`, or None when the schedule holds no later session."""
    index = bisect_left(schedule.intervals, now, key=_open_of)
    return schedule.intervals[index].open if index < len(schedule.intervals) else None


def close_after(schedule: Schedule, moment: datetime) -> datetime | None:
    """When the session open at `moment` closes (or, when none is open, the next one); intervals that touch are one
    session. None when the schedule holds no such session."""
    intervals = schedule.intervals
    index = bisect_right(intervals, moment, key=_open_of) - 1
    if index < 0 or moment >= intervals[index].close:
        index += 1
    if index >= len(intervals):
        return None
    close = intervals[index].close
    while index + 1 < len(intervals) and intervals[index + 1].open <= close:
        index += 1
        close = intervals[index].close
    return close


def is_weekday(day: date) -> bool:
    """Monday to Friday: the business-day rule when no holiday calendar is at hand."""
    return day.weekday() < 5


def trade_date(now: datetime, is_business_day: Callable[[date], bool] = is_weekday) -> date:
    """The CME trade date of `now`.

    A Globex session opening at 17:00 CT belongs to the next business day, so Friday evening, the
    weekend and (with a holiday-aware `is_business_day`) holidays all roll forward. DST-correct:
    the roll happens at 17:00 Chicago wall-clock time whatever the UTC offset.
    """
    if now.tzinfo is None:
        raise ValueError("trade_date needs a timezone-aware datetime")
    local = now.astimezone(ZoneInfo(CME_TIME_ZONE))
    day = local.date() + timedelta(days=1) if local.time() >= _TRADE_DATE_ROLL else local.date()
    for _ in range(_MAX_ROLL_DAYS):
        if is_business_day(day):
            return day
        day += timedelta(days=1)
    raise ValueError(f"no business day within {_MAX_ROLL_DAYS} days of {local.date()}")
