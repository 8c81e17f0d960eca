"""The tape and its charts: trades recorded from quote moves (tick rule, aggressor side, ring buffer), bars of
minutes, trade dates and ticks, bars kept current as trades arrive, tick packets by trade date, time windows."""

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradovate_sim.core.view import Quote
from tradovate_sim.venue.tape import BarStream, ChartSpec, Tape, Trade, bars, by_trade_date, window

T0 = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)  # a Tuesday
FAST = settings(max_examples=200, deadline=None)


def trade_dates(moment: datetime) -> date:
    """A stand-in calendar: the trade date rolls at 22:00 UTC."""
    return (moment + timedelta(hours=2)).date()


def quote(at: datetime, last: int | None, size: int = 1, bid: int = 100, ask: int = 101) -> Quote:
    return Quote(contract_id=1, timestamp=at, bid=bid, ask=ask, bid_size=5, ask_size=6, last=last, last_size=size)


def tape_of(prints: list[tuple[float, int, int]]) -> Tape:
    """A tape from (seconds after T0, price, size) prints, each at a one-tick-wide quote around the previous price."""
    tape = Tape()
    before: Quote | None = None
    for seconds, price, size in prints:
        after = quote(T0 + timedelta(seconds=seconds), price, size, bid=price, ask=price + 1)
        tape.record(before, after)
        before = after
    return tape


def minute(n: int = 1) -> ChartSpec:
    return ChartSpec(kind="MinuteBar", size=n)


# --- recording ------------------------------------------------------------------------------------------------------


def test_a_quote_prints_a_trade_only_when_it_carries_a_last_price() -> None:
    tape = Tape()
    assert tape.record(None, quote(T0, None)) is None
    assert tape.record(None, quote(T0, 100, size=0)) is None
    trade = tape.record(None, quote(T0, 100, size=3))
    assert trade == Trade(id=1, timestamp=T0, price=100, size=3, bid=100, ask=101, bid_size=5, ask_size=6, up=True,
                          at_offer=False)
    assert tape.last_id == 1 and list(tape.trades) == [trade]


def test_tick_rule_zero_ticks_keep_the_direction_of_the_last_move() -> None:
    tape = tape_of([(0, 100, 1), (1, 101, 1), (2, 101, 1), (3, 99, 1), (4, 99, 1), (5, 100, 1)])
    assert [t.up for t in tape.trades] == [True, True, True, False, False, True]


def test_the_first_trade_is_judged_against_the_last_price_of_the_quote_before_it() -> None:
    tape = Tape()
    trade = tape.record(quote(T0, 105), quote(T0, 104))
    assert trade is not None and not trade.up


@pytest.mark.parametrize(("price", "at_offer"), [(101, True), (102, True), (100, False), (99, False)])
def test_aggressor_side_is_decided_by_the_quote_before_the_trade(price: int, at_offer: bool) -> None:
    tape = Tape()
    trade = tape.record(quote(T0, None, bid=100, ask=101), quote(T0, price, bid=price - 5, ask=price + 5))
    assert trade is not None and trade.at_offer is at_offer


def test_the_tape_keeps_the_last_trades_and_since_answers_only_what_it_holds() -> None:
    tape = Tape(capacity=3)
    for k in range(5):
        tape.record(None, quote(T0 + timedelta(seconds=k), 100 + k))
    assert [t.id for t in tape.trades] == [3, 4, 5]
    assert [t.id for t in tape.since(0)] == [3, 4, 5]
    assert [t.id for t in tape.since(3)] == [4, 5]
    assert tape.since(5) == [] and tape.since(9) == []


# --- bars -----------------------------------------------------------------------------------------------------------


def test_minute_bars_hold_open_high_low_close_and_the_split_volumes() -> None:
    tape = tape_of([(0, 100, 2), (10, 102, 3), (20, 101, 1), (59, 103, 4), (60, 103, 5), (150, 99, 1)])
    built = bars(tape.trades, minute(), trade_dates)
    assert [b.timestamp for b in built] == [T0, T0 + timedelta(minutes=1), T0 + timedelta(minutes=2)]
    first = built[0]
    assert (first.open, first.high, first.low, first.close) == (100, 103, 100, 103)
    assert (first.up_volume, first.up_ticks, first.down_volume, first.down_ticks) == (9, 3, 1, 1)
    assert first.offer_volume + first.bid_volume == 10
    assert first.trade_date == date(2026, 11, 24)
    assert (built[1].open, built[1].close, built[1].up_ticks) == (103, 103, 1)  # a zero tick after an up move


def test_n_minute_bars_start_at_multiples_of_n_minutes() -> None:
    tape = tape_of([(0, 100, 1), (4 * 60 + 59, 101, 1), (5 * 60, 102, 1), (14 * 60, 103, 1)])
    built = bars(tape.trades, minute(5), trade_dates)
    assert [(b.timestamp, b.open, b.close) for b in built] == [
        (T0, 100, 101), (T0 + timedelta(minutes=5), 102, 102), (T0 + timedelta(minutes=10), 103, 103)]


def test_daily_bars_group_by_trade_date_and_weekly_ones_start_on_monday() -> None:
    tape = tape_of([(0, 100, 1), (7 * 3600, 101, 1), (24 * 3600, 102, 1)])  # 15:00, 22:00 (rolled), next day 15:00
    daily = bars(tape.trades, ChartSpec(kind="DailyBar", size=1), trade_dates)
    assert [(b.timestamp, b.trade_date, b.open, b.close) for b in daily] == [
        (datetime(2026, 11, 24, tzinfo=UTC), date(2026, 11, 24), 100, 100),
        (datetime(2026, 11, 25, tzinfo=UTC), date(2026, 11, 25), 101, 102)]
    weekly = bars(tape.trades, ChartSpec(kind="DailyBar", size=7), trade_dates)
    assert [(b.timestamp, b.open, b.close) for b in weekly] == [(datetime(2026, 11, 23, tzinfo=UTC), 100, 102)]


def test_tick_bars_hold_n_trades_each() -> None:
    tape = tape_of([(k, 100 + k, 1) for k in range(7)])
    built = bars(tape.trades, ChartSpec(kind="Tick", size=3), trade_dates)
    assert [(b.timestamp, b.open, b.close) for b in built] == [
        (T0, 100, 102), (T0 + timedelta(seconds=3), 103, 105), (T0 + timedelta(seconds=6), 106, 106)]


def test_only_tick_one_is_a_tick_stream() -> None:
    assert ChartSpec(kind="Tick", size=1).ticks
    assert not ChartSpec(kind="Tick", size=2).ticks and not minute().ticks


# --- realtime -------------------------------------------------------------------------------------------------------


def test_the_stream_answers_the_bars_new_trades_changed_in_full() -> None:
    tape = tape_of([(0, 100, 2), (10, 102, 3)])
    stream = BarStream(tape, minute(), trade_dates)
    tape.record(None, quote(T0 + timedelta(seconds=20), 104, 1))
    changed = stream.update(tape.since(2))
    assert [(b.timestamp, b.open, b.high, b.close, b.up_volume) for b in changed] == [(T0, 100, 104, 104, 6)]
    tape.record(None, quote(T0 + timedelta(seconds=61), 103, 1))
    tape.record(None, quote(T0 + timedelta(seconds=62), 105, 1))
    changed = stream.update(tape.since(3))
    assert [(b.timestamp, b.open, b.close) for b in changed] == [(T0 + timedelta(minutes=1), 103, 105)]


@given(steps=st.lists(st.tuples(st.integers(-90, 300), st.integers(-3, 3), st.integers(1, 9)), min_size=1,
                      max_size=60),
       batches=st.lists(st.integers(1, 5), min_size=1, max_size=20),
       kind=st.sampled_from([("MinuteBar", 1), ("MinuteBar", 2), ("DailyBar", 1), ("Tick", 3)]),
       held=st.integers(0, 10))
@FAST
def test_streamed_bars_always_equal_bars_built_from_the_tape(steps: list[tuple[int, int, int]], batches: list[int],
                                                             kind: tuple[str, int], held: int) -> None:
    """Whatever the clock does (it may go back), each bar the stream answers is the bar of every trade the tape
    holds in it so far."""
    spec = ChartSpec(kind=kind[0], size=kind[1])
    tape = Tape()
    moment, price = T0 + timedelta(hours=6), 100
    for seconds, move, size in steps[:held]:
        moment, price = moment + timedelta(seconds=seconds), price + move
        tape.record(None, quote(moment, price, size))
    stream = BarStream(tape, spec, trade_dates)
    seen = tape.last_id
    pending = steps[held:]
    for batch in batches:
        for seconds, move, size in pending[:batch]:
            moment, price = moment + timedelta(seconds=seconds), price + move
            tape.record(None, quote(moment, price, size))
        pending = pending[batch:]
        new = tape.since(seen)
        seen = tape.last_id
        changed = stream.update(new)
        truth = {b.key: b for b in bars(tape.trades, spec, trade_dates)}
        assert {b.key for b in changed} == {spec.key(t, trade_dates(t.timestamp)) for t in new}
        for bar in changed:
            assert bar == truth[bar.key]


# --- ticks and windows ----------------------------------------------------------------------------------------------


def test_ticks_are_grouped_by_trade_date_in_order() -> None:
    tape = tape_of([(0, 100, 1), (6 * 3600, 101, 1), (7 * 3600, 102, 1), (8 * 3600, 103, 1)])
    groups = by_trade_date(tape.trades, trade_dates)
    assert [(d, [t.id for t in ts]) for d, ts in groups] == [(date(2026, 11, 24), [1, 2]),
                                                             (date(2026, 11, 25), [3, 4])]


def test_window_bounds_both_ends_inclusively_then_keeps_the_last_n() -> None:
    items = [T0 + timedelta(minutes=k) for k in range(10)]
    assert window(items, lambda t: t) == items
    assert window(items, lambda t: t, closest=items[5]) == items[:6]
    assert window(items, lambda t: t, as_far=items[7]) == items[7:]
    assert window(items, lambda t: t, closest=items[5], as_far=items[2], as_much=2) == items[4:6]
    assert window(items, lambda t: t, as_much=100) == items
    assert window(items, lambda t: t, closest=items[1], as_far=items[2]) == []

