"""Trading sessions: the pure schedule search, trade dates, and the CME calendar adapter's schedules."""

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tradovate_sim.core.sessions import Interval, Schedule, close_after, is_open, next_open, trade_date
from tradovate_sim.venue.calendar import CmeCalendar
from tradovate_sim.venue.catalogue import ProductSpec, load_catalogue

CT = ZoneInfo("America/Chicago")


def ct(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=CT)


@pytest.fixture(scope="module")
def calendar() -> CmeCalendar:
    return CmeCalendar()


@pytest.fixture(scope="module")
def es() -> ProductSpec:
    return load_catalogue()["ES"]


@pytest.fixture(scope="module")
def es_schedule(calendar: CmeCalendar, es: ProductSpec) -> Schedule:
    """ES sessions from late 2025 to early 2028: covers both DST changes of 2026 and Christmas."""
    return calendar.schedule(es, date(2026, 11, 24), days_before=330, days_after=400)


# --- is_open / next_open on the ES schedule ---------------------------------------------------------


def test_es_is_open_when_tuesday_10_00_ct(es_schedule: Schedule) -> None:
    assert is_open(es_schedule, ct(2026, 11, 24, 10, 0))


def test_es_is_closed_when_tuesday_16_30_ct_daily_break(es_schedule: Schedule) -> None:
    assert not is_open(es_schedule, ct(2026, 11, 24, 16, 30))


def test_es_is_closed_when_exactly_16_00_ct(es_schedule: Schedule) -> None:
    assert not is_open(es_schedule, ct(2026, 11, 24, 16, 0))


def test_es_is_open_when_tuesday_17_05_ct(es_schedule: Schedule) -> None:
    assert is_open(es_schedule, ct(2026, 11, 24, 17, 5))


def test_es_is_closed_when_saturday(es_schedule: Schedule) -> None:
    assert not is_open(es_schedule, ct(2026, 11, 21, 12, 0))


def test_es_is_closed_when_sunday_16_59_ct(es_schedule: Schedule) -> None:
    assert not is_open(es_schedule, ct(2026, 11, 22, 16, 59))


def test_es_is_open_when_sunday_17_00_ct(es_schedule: Schedule) -> None:
    assert is_open(es_schedule, ct(2026, 11, 22, 17, 0))


def test_es_is_closed_when_friday_after_16_00_ct(es_schedule: Schedule) -> None:
    assert is_open(es_schedule, ct(2026, 11, 20, 15, 59))
    assert not is_open(es_schedule, ct(2026, 11, 20, 17, 30))


def test_es_is_closed_when_christmas_2026(es_schedule: Schedule) -> None:
    for hour in (0, 10, 17, 23):
        assert not is_open(es_schedule, ct(2026, 12, 25, hour))
    assert next_open(es_schedule, ct(2026, 12, 25, 10)) == ct(2026, 12, 27, 17, 0)


def test_es_closes_at_noon_when_christmas_eve_2026(es_schedule: Schedule) -> None:
    assert is_open(es_schedule, ct(2026, 12, 24, 11, 59))
    assert not is_open(es_schedule, ct(2026, 12, 24, 12, 0))


def test_es_closes_at_noon_when_thanksgiving_2026(es_schedule: Schedule) -> None:
    assert is_open(es_schedule, ct(2026, 11, 26, 11, 59))
    assert not is_open(es_schedule, ct(2026, 11, 26, 12, 0))
    assert not is_open(es_schedule, ct(2026, 11, 26, 16, 30))
    assert is_open(es_schedule, ct(2026, 11, 26, 17, 0))


def test_es_closes_at_noon_when_black_friday_2026(es_schedule: Schedule) -> None:
    assert is_open(es_schedule, ct(2026, 11, 27, 11, 59))
    assert not is_open(es_schedule, ct(2026, 11, 27, 12, 0))
    assert next_open(es_schedule, ct(2026, 11, 27, 12, 0)) == ct(2026, 11, 29, 17, 0)


def test_es_is_closed_when_good_friday_2026(es_schedule: Schedule) -> None:
    assert not is_open(es_schedule, ct(2026, 4, 3, 10, 0))
    assert not is_open(es_schedule, ct(2026, 4, 2, 17, 30))


def test_session_opens_at_17_00_cdt_when_dst_starts(es_schedule: Schedule) -> None:
    sunday = datetime(2026, 3, 8, 22, 0, tzinfo=UTC)  # 17:00 CDT, first evening on daylight time
    assert not is_open(es_schedule, sunday - timedelta(minutes=1))
    assert is_open(es_schedule, sunday)
    assert next_open(es_schedule, datetime(2026, 3, 7, tzinfo=UTC)) == sunday


def test_session_opens_at_17_00_cst_when_dst_ends(es_schedule: Schedule) -> None:
    sunday = datetime(2026, 11, 1, 23, 0, tzinfo=UTC)  # 17:00 CST, first evening on standard time
    assert not is_open(es_schedule, datetime(2026, 11, 1, 22, 30, tzinfo=UTC))
    assert is_open(es_schedule, sunday)
    assert next_open(es_schedule, datetime(2026, 10, 31, tzinfo=UTC)) == sunday


def test_daily_break_follows_local_clock_when_dst_changes(es_schedule: Schedule) -> None:
    assert not is_open(es_schedule, datetime(2026, 3, 6, 22, 30, tzinfo=UTC))  # Fri 16:30 CST
    assert not is_open(es_schedule, datetime(2026, 3, 9, 21, 30, tzinfo=UTC))  # Mon 16:30 CDT
    assert is_open(es_schedule, datetime(2026, 3, 9, 22, 30, tzinfo=UTC))  # Mon 17:30 CDT


def test_next_open_is_now_when_exactly_at_open(es_schedule: Schedule) -> None:
    assert next_open(es_schedule, ct(2026, 11, 22, 17, 0)) == ct(2026, 11, 22, 17, 0)


def test_next_open_is_none_when_past_the_schedule(es_schedule: Schedule) -> None:
    assert next_open(es_schedule, datetime(2030, 1, 1, tzinfo=UTC)) is None


def test_nothing_is_open_when_schedule_empty() -> None:
    assert not is_open(Schedule(), datetime(2026, 1, 1, tzinfo=UTC))
    assert next_open(Schedule(), datetime(2026, 1, 1, tzinfo=UTC)) is None


# --- the calendar adapter ---------------------------------------------------------------------------


def test_schedule_bounds_are_utc_when_built(es_schedule: Schedule) -> None:
    assert all(i.open.tzinfo is UTC and i.close.tzinfo is UTC for i in es_schedule.intervals)


def test_schedule_covers_requested_trade_dates_when_built(calendar: CmeCalendar, es: ProductSpec) -> None:
    schedule = calendar.schedule(es, date(2026, 11, 24), days_before=1, days_after=1)
    assert [(i.open, i.close) for i in schedule.intervals] == [
        (ct(2026, 11, 22, 17), ct(2026, 11, 23, 16)),
        (ct(2026, 11, 23, 17), ct(2026, 11, 24, 16)),
        (ct(2026, 11, 24, 17), ct(2026, 11, 25, 16)),
    ]


def test_schedule_refused_when_window_outside_calendar(es: ProductSpec) -> None:
    calendar = CmeCalendar(first=date(2026, 1, 1), last=date(2026, 12, 31))
    with pytest.raises(ValueError, match="outside"):
        calendar.schedule(es, date(2026, 12, 1), days_after=60)


def test_a_cached_calendar_answers_as_the_library_and_a_later_one_reads_the_file(
        calendar: CmeCalendar, es: ProductSpec, tmp_path: Path) -> None:
    # Arrange: the first calendar with a cache asks the library and writes what it said
    first = CmeCalendar(cache=tmp_path / "cache")
    built = first.schedule(es, date(2026, 11, 24))
    files = list((tmp_path / "cache").iterdir())
    assert [f.suffix for f in files] == [".msgpack"]
    # Act: a later one (another process's) reads it; a damaged file is asked again and rewritten
    later = CmeCalendar(cache=tmp_path / "cache")
    read = later.schedule(es, date(2026, 11, 24))
    files[0].write_bytes(b"not msgpack")
    damaged = CmeCalendar(cache=tmp_path / "cache")
    # Assert: every answer is the library's
    assert built == read == calendar.schedule(es, date(2026, 11, 24))
    assert later.holidays() == calendar.holidays()
    assert damaged.holidays() == calendar.holidays()
    assert files[0].read_bytes() != b"not msgpack"


# --- trade_date -------------------------------------------------------------------------------------


def test_trade_date_is_monday_when_sunday_18_00_ct() -> None:
    assert trade_date(ct(2026, 11, 22, 18, 0)) == date(2026, 11, 23)


def test_trade_date_is_today_when_tuesday_10_00_ct() -> None:
    assert trade_date(ct(2026, 11, 24, 10, 0)) == date(2026, 11, 24)


def test_trade_date_is_tomorrow_when_tuesday_17_00_ct() -> None:
    assert trade_date(ct(2026, 11, 24, 17, 0)) == date(2026, 11, 25)


def test_trade_date_is_monday_when_friday_evening_or_weekend() -> None:
    assert trade_date(ct(2026, 11, 20, 17, 30)) == date(2026, 11, 23)
    assert trade_date(ct(2026, 11, 21, 12, 0)) == date(2026, 11, 23)
    assert trade_date(ct(2026, 11, 22, 9, 0)) == date(2026, 11, 23)


def test_trade_date_rolls_at_local_17_00_when_dst_changes() -> None:
    assert trade_date(datetime(2026, 3, 9, 22, 30, tzinfo=UTC)) == date(2026, 3, 10)  # 17:30 CDT
    assert trade_date(datetime(2026, 11, 2, 22, 30, tzinfo=UTC)) == date(2026, 11, 2)  # 16:30 CST


def test_trade_date_skips_holiday_when_given_the_calendar(calendar: CmeCalendar) -> None:
    wednesday_evening = ct(2026, 11, 25, 18, 0)
    assert trade_date(wednesday_evening) == date(2026, 11, 26)
    assert trade_date(wednesday_evening, calendar.is_business_day) == date(2026, 11, 27)


def test_trade_date_refused_when_naive() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        trade_date(datetime(2026, 11, 24, 10, 0))


# --- Schedule values ----------------------------------------------------------------------------------


def test_interval_refused_when_naive() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        Interval(open=datetime(2026, 1, 1), close=datetime(2026, 1, 2))


def test_interval_refused_when_close_not_after_open() -> None:
    moment = datetime(2026, 1, 1, tzinfo=UTC)
    with pytest.raises(ValueError, match="closes"):
        Interval(open=moment, close=moment)


def test_schedule_refused_when_intervals_overlap() -> None:
    base = datetime(2026, 1, 1, tzinfo=UTC)
    first = Interval(open=base, close=base + timedelta(hours=2))
    second = Interval(open=base + timedelta(hours=1), close=base + timedelta(hours=3))
    with pytest.raises(ValueError, match="overlap"):
        Schedule(intervals=(first, second))


BASE = datetime(2026, 1, 1, tzinfo=UTC)


@st.composite
def schedules(draw: st.DrawFn) -> Schedule:
    """Disjoint sorted intervals built from (gap, length) minute pairs; gaps may be zero."""
    pairs = draw(st.lists(st.tuples(st.integers(0, 120), st.integers(1, 120)), max_size=30))
    intervals: list[Interval] = []
    cursor = BASE
    for gap, length in pairs:
        opens = cursor + timedelta(minutes=gap)
        cursor = opens + timedelta(minutes=length)
        intervals.append(Interval(open=opens, close=cursor))
    return Schedule(intervals=tuple(intervals))


@given(schedule=schedules(), minute=st.integers(-10, 7500))
def test_is_open_agrees_with_brute_force_when_any_schedule(schedule: Schedule, minute: int) -> None:
    now = BASE + timedelta(minutes=minute)
    assert is_open(schedule, now) == any(i.open <= now < i.close for i in schedule.intervals)


@given(schedule=schedules(), minute=st.integers(-10, 7500))
def test_next_open_agrees_with_brute_force_when_any_schedule(schedule: Schedule, minute: int) -> None:
    now = BASE + timedelta(minutes=minute)
    later = [i.open for i in schedule.intervals if i.open >= now]
    assert next_open(schedule, now) == (min(later) if later else None)


def test_a_day_order_placed_in_a_session_expires_at_that_session_close(es_schedule: Schedule) -> None:
    assert close_after(es_schedule, ct(2026, 11, 24, 10)) == ct(2026, 11, 24, 16)
    assert close_after(es_schedule, ct(2026, 11, 24, 18)) == ct(2026, 11, 25, 16)  # the evening opens the next day


def test_the_close_after_a_closed_moment_is_the_next_session_close(es_schedule: Schedule) -> None:
    assert close_after(es_schedule, ct(2026, 11, 24, 16, 30)) == ct(2026, 11, 25, 16)  # in the daily break
    assert close_after(es_schedule, ct(2026, 11, 28, 12)) == ct(2026, 11, 30, 16)  # Saturday: Monday's close


def test_touching_intervals_close_as_one_session() -> None:
    first = Interval(open=datetime(2026, 1, 1, tzinfo=UTC), close=datetime(2026, 1, 2, tzinfo=UTC))
    second = Interval(open=datetime(2026, 1, 2, tzinfo=UTC), close=datetime(2026, 1, 3, tzinfo=UTC))
    schedule = Schedule(intervals=(first, second))

    assert close_after(schedule, datetime(2026, 1, 1, 12, tzinfo=UTC)) == datetime(2026, 1, 3, tzinfo=UTC)
    assert close_after(schedule, datetime(2026, 1, 3, tzinfo=UTC)) is None


def test_a_calendar_cache_that_cannot_be_written_leaves_no_file_and_answers_as_the_library(
        calendar: CmeCalendar, es: ProductSpec, tmp_path: Path) -> None:
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the cache directory would be")
    cached = CmeCalendar(cache=blocked / "cache")
    assert cached.schedule(es, date(2026, 11, 24)) == calendar.schedule(es, date(2026, 11, 24))
    assert [p.name for p in tmp_path.iterdir()] == ["blocked"]
