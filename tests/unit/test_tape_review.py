"""Review of the tape's bar building: realtime bars after the tape dropped trades a slow reader had not seen,
bars that straddle the trade-date roll, tick bars and tick packets over the ring buffer's edge, and windows.

The bugs this review found are fixed; their tests now pass.
"""

from datetime import UTC, date, datetime, timedelta

from tradovate_sim.core.view import Quote
from tradovate_sim.venue.tape import BarStream, ChartSpec, Tape, bars, by_trade_date, window

T0 = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)  # a Tuesday


def trade_dates(moment: datetime) -> date:
    """A stand-in calendar: the trade date rolls at 22:00 UTC."""
    return (moment + timedelta(hours=2)).date()


def quote(at: datetime, last: int, size: int = 1) -> Quote:
    return Quote(contract_id=1, timestamp=at, bid=last, ask=last + 1, bid_size=5, ask_size=6, last=last,
                 last_size=size)


def record(tape: Tape, seconds: float, price: int, size: int = 1) -> None:
    tape.record(None, quote(T0 + timedelta(seconds=seconds), price, size))


MINUTE = ChartSpec(kind="MinuteBar", size=1)


def test_a_realtime_bar_after_an_eviction_gap_is_the_bar_of_the_trades_the_tape_holds() -> None:
    tape = Tape(capacity=5)
    stream = BarStream(tape, MINUTE, trade_dates)
    record(tape, 0, 100)
    record(tape, 1, 101)
    seen = tape.last_id
    assert [b.up_ticks for b in stream.update(tape.since(0))] == [2]
    for k in range(2, 9):  # the reader falls behind: trades 3 and 4 leave the tape unseen
        record(tape, k, 100 + k)
    new = tape.since(seen)
    assert [t.id for t in new] == [5, 6, 7, 8, 9]
    [streamed] = stream.update(new)
    [held] = bars(tape.trades, MINUTE, trade_dates)
    assert (streamed.open, streamed.up_ticks, streamed.up_volume) == (held.open, held.up_ticks, held.up_volume)


def test_a_bar_straddling_the_trade_date_roll_keeps_the_trade_date_of_its_first_trade_live_and_in_history() -> None:
    spec = ChartSpec(kind="MinuteBar", size=7)  # 7-minute bars from the epoch do not align with the hour
    tape = Tape()
    stream = BarStream(tape, spec, trade_dates)
    start = datetime(2026, 11, 24, 21, 59, tzinfo=UTC)
    assert (start - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(minutes=1) % 7 == 0  # a bar starts here
    for offset, price in ((30, 100), (60, 101), (120, 102)):  # 21:59:30, 22:00 (rolled), 22:01
        tape.record(None, quote(start + timedelta(seconds=offset), price))
    [live] = stream.update(tape.since(0))
    [built] = bars(tape.trades, spec, trade_dates)
    assert live == built
    assert (built.timestamp, built.trade_date, built.open, built.close) == (start, date(2026, 11, 24), 100, 102)


def test_tick_bars_are_stamped_at_their_first_held_trade() -> None:
    tape = Tape(capacity=3)
    for k in range(5):
        record(tape, k, 100 + k)
    built = bars(tape.trades, ChartSpec(kind="Tick", size=4), trade_dates)
    assert [(b.key, b.timestamp, b.open, b.close) for b in built] == [
        (0, T0 + timedelta(seconds=2), 102, 103), (1, T0 + timedelta(seconds=4), 104, 104)]


def test_tick_packets_group_by_trade_date_even_when_the_clock_goes_back_across_the_roll() -> None:
    tape = Tape()
    for seconds in (7 * 3600 - 1, 7 * 3600, 7 * 3600 - 2, 7 * 3600 + 1):  # 21:59:59, 22:00, 21:59:58, 22:00:01
        record(tape, seconds, 100)
    groups = by_trade_date(tape.trades, trade_dates)
    assert [(d.day, [t.id for t in ts]) for d, ts in groups] == [(24, [1]), (25, [2]), (24, [3]), (25, [4])]


def test_window_as_much_keeps_the_newest_after_the_bounds_and_huge_counts_are_harmless() -> None:
    items = [T0 + timedelta(minutes=k) for k in range(5)]
    assert window(items, lambda t: t, as_much=10**30) == items
    assert window(items, lambda t: t, as_much=1) == items[-1:]
    assert window(items, lambda t: t, closest=items[2], as_much=1) == [items[2]]
    assert window(items, lambda t: t, as_far=items[3], as_much=10) == items[3:]
    assert window([], lambda t: t, as_much=3) == []


def test_a_stream_on_an_empty_tape_starts_every_bar_fresh_and_matches_the_tape() -> None:
    tape = Tape()
    stream = BarStream(tape, ChartSpec(kind="DailyBar", size=1), trade_dates)
    assert stream.update([]) == []
    record(tape, 0, 100, 2)
    record(tape, 7 * 3600, 99, 3)  # 22:00: the next trade date
    changed = stream.update(tape.since(0))
    assert changed == bars(tape.trades, ChartSpec(kind="DailyBar", size=1), trade_dates)
    assert [b.trade_date.day for b in changed] == [24, 25]
