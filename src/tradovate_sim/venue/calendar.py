"""The CME holiday calendar: an adapter over the maintained `exchange_calendars` library.

`exchange_calendars`' "CMES" calendar knows the Globex trading days, full holidays and early
(12:00 CT) closes, but models the market as continuous from 17:00 CT to 17:00 CT. `CmeCalendar`
combines it with a product's own session hours into a `Schedule`, and answers which days are CME
business days for expiration arithmetic. The library (and pandas) is imported and its calendar built
on first use, once per `CmeCalendar` -- or, given a cache directory, once per library version and date range:
later processes read the result from a file there (a test suite's many server starts skip ~1.3 s of CPU each).
"""

import contextlib
import logging
import os
import warnings
from datetime import UTC, date, datetime, timedelta
from functools import cached_property
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from zoneinfo import ZoneInfo

import msgspec

from tradovate_sim.core.sessions import Interval, Schedule
from tradovate_sim.venue.catalogue import ProductSpec

log = logging.getLogger("tradovate_sim.calendar")

__all__ = ["CmeCalendar"]

_LIBRARY_CALENDAR = "CMES"


class _Sessions(msgspec.Struct, frozen=True, kw_only=True):
    """What the library says, in plain Python: each trading day's UTC open and close."""

    hours: dict[date, tuple[datetime, datetime]]
    no_settlement: frozenset[date]
    """Trading days that are US federal holidays (abbreviated Globex hours, no settlement)."""


class CmeCalendar:
    """CME Globex trading days from `first` to `last` inclusive; build once, keep, and share.

    A business day is a weekday with a Globex session that is not a US federal holiday: the library
    gives MLK, Presidents', Memorial, Independence, Labor and Thanksgiving Day an early close, but CME
    publishes no settlement on them, so expiration rules skip them. Black Friday and Christmas Eve
    (early closes too) remain business days.
    """

    def __init__(self, first: date = date(2000, 1, 1), last: date = date(2040, 12, 31), *,
                 cache: Path | None = None) -> None:
        if first > last:
            raise ValueError(f"calendar starts {first} after it ends {last}")
        self.first = first
        self.last = last
        self.cache = cache  # a directory for what the library says (None: asked in every process)

    @cached_property
    def _sessions(self) -> _Sessions:
        if self.cache is None:
            return self._from_library()
        # named by everything the answer depends on: another version of this package (how it reads the library)
        # or of either library, or another range, is another file, never a stale one
        try:
            versions = "-".join(f"{name}-{version(name)}" for name in ("tradovate-sim", "exchange_calendars", "pandas"))
        except PackageNotFoundError:  # not installed as a distribution: nothing to name the file by
            return self._from_library()
        path = self.cache / f"cme-sessions-{versions}-{self.first}-{self.last}.msgpack"
        with contextlib.suppress(OSError, msgspec.DecodeError, msgspec.ValidationError):
            return msgspec.msgpack.decode(path.read_bytes(), type=_Sessions)
        sessions = self._from_library()
        written = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        try:  # a cache that cannot be written costs time, never an answer
            self.cache.mkdir(parents=True, exist_ok=True)
            written.write_bytes(msgspec.msgpack.encode(sessions))
            written.replace(path)  # whole or absent for concurrent readers
        except OSError as error:
            log.warning("calendar cache %s: not written (%s)", self.cache, error)
            with contextlib.suppress(OSError):
                written.unlink()
        return sessions

    def _from_library(self) -> _Sessions:
        import exchange_calendars
        from pandas.tseries.holiday import USFederalHolidayCalendar

        with warnings.catch_warnings():
            # exchange_calendars 4.13 reads `Series.values`, which pandas 3.1 deprecates.
            warnings.simplefilter("ignore", DeprecationWarning)
            library = exchange_calendars.get_calendar(
                _LIBRARY_CALENDAR, start=self.first.isoformat(), end=self.last.isoformat()
            )
            hours = {
                label.date(): (opens.to_pydatetime(), closes.to_pydatetime())
                for label, opens, closes in zip(library.sessions, library.opens, library.closes, strict=True)
            }
            federal = {stamp.date() for stamp in USFederalHolidayCalendar().holidays(self.first, self.last)}
            early = {stamp.date() for stamp in library.early_closes}
        return _Sessions(hours=hours, no_settlement=frozenset(federal & early))

    def _check_covered(self, first: date, last: date) -> None:
        if first < self.first or last > self.last:
            raise ValueError(f"{first}..{last} is outside this calendar's {self.first}..{self.last}")

    def is_trading_day(self, day: date) -> bool:
        """Whether Globex holds a session for trade date `day` (possibly an abbreviated one)."""
        self._check_covered(day, day)
        return day in self._sessions.hours

    def is_business_day(self, day: date) -> bool:
        """Whether `day` is a CME business day: a trading day with a settlement."""
        self._check_covered(day, day)
        sessions = self._sessions
        return day in sessions.hours and day not in sessions.no_settlement

    def is_holiday(self, day: date) -> bool:
        """Whether `day` is a weekday that is not a CME business day."""
        return day.weekday() < 5 and not self.is_business_day(day)

    def holidays(self) -> frozenset[date]:
        """Every CME holiday (see `is_holiday`) this calendar covers."""
        sessions = self._sessions
        weekdays = (
            self.first + timedelta(days=offset) for offset in range((self.last - self.first).days + 1)
        )
        return frozenset(
            day
            for day in weekdays
            if day.weekday() < 5 and (day not in sessions.hours or day in sessions.no_settlement)
        )

    def schedule(
        self, spec: ProductSpec, around: date, *, days_before: int = 7, days_after: int = 400
    ) -> Schedule:
        """`spec`'s open intervals for trade dates from `days_before` before to `days_after` after `around`.

        Each trading day's interval is the product's own session (opening the evening before when
        `session_open` is later than `session_close`) clipped to the library's open and close, so an
        early close wins; full holidays and weekends have no interval. Bounds are UTC.
        """
        first = around - timedelta(days=days_before)
        last = around + timedelta(days=days_after)
        self._check_covered(first, last)
        zone = ZoneInfo(spec.time_zone)
        opens_day_before = spec.session_open > spec.session_close
        hours = self._sessions.hours
        intervals: list[Interval] = []
        for offset in range((last - first).days + 1):
            day = first + timedelta(days=offset)
            if day not in hours:
                continue
            library_open, library_close = hours[day]
            open_day = day - timedelta(days=1) if opens_day_before else day
            opens = max(library_open, datetime.combine(open_day, spec.session_open, tzinfo=zone))
            closes = min(library_close, datetime.combine(day, spec.session_close, tzinfo=zone))
            if opens < closes:
                intervals.append(Interval(open=opens.astimezone(UTC), close=closes.astimezone(UTC)))
        return Schedule(intervals=tuple(intervals))
