"""The tape: each contract's recent trades, and the chart elements built from them (`md/getChart`).

Pure: no clock, no calendar, no I/O. Prices are in ticks; the trade date of an instant comes from the caller as a
function (`TradeDates`), since it needs the exchange calendar.

- A `Tape` is a ring buffer of the last `TAPE_CAPACITY` trades of one contract, numbered from 1. Each trade carries
  the quote that came with it, its tick-rule direction (`up`) and its aggressor side (`at_offer`), decided once when
  it is recorded.
- A `ChartSpec` says how trades group into bars: `MinuteBar` N (N-minute intervals counted from 1970-01-01
  00:00 UTC, so from every midnight UTC when N divides 1,440),
  `DailyBar` N (trade dates in groups of N days counted from 0001-01-01, so N = 7 gives weeks from Monday) or `Tick` N
  (N consecutive trades by trade id; N = 1 is the tick stream, not bars).
- `bars` aggregates trades; `BarStream` keeps bars up to date as trades arrive (the realtime part of a chart);
  `by_trade_date` groups ticks into the packets of a tick chart; `window` applies a chart's time range.
"""

from collections import deque
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from itertools import islice
from typing import TypeVar

import msgspec

from tradovate_sim.core.view import Quote

TAPE_CAPACITY = 10_000  # trades kept per contract
KINDS = ("MinuteBar", "DailyBar", "Tick")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

TradeDates = Callable[[datetime], date]
T = TypeVar("T")


class Trade(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    id: int  # per contract, from 1
    timestamp: datetime
    price: int  # ticks
    size: int
    bid: int | None = None  # the quote that came with the trade (ticks)
    ask: int | None = None
    bid_size: int = 0
    ask_size: int = 0
    up: bool = True  # tick rule: above the previous trade, or at its price after an up move
    at_offer: bool = True  # the buyer took the offer (at or above the ask before the trade)

    @property
    def millis(self) -> int:
        return epoch_millis(self.timestamp)


def epoch_millis(moment: datetime) -> int:
    return (moment - EPOCH) // timedelta(milliseconds=1)


class Tape:
    """The last `capacity` trades of one contract, oldest first."""

    def __init__(self, capacity: int = TAPE_CAPACITY) -> None:
        self.trades: deque[Trade] = deque(maxlen=capacity)
        self.last_id = 0

    def record(self, before: Quote | None, after: Quote) -> Trade | None:
        """The trade `after` prints (its `last` and `last_size`), judged against the quote `before` it; None when
        `after` carries no trade."""
        if after.last is None or after.last_size <= 0:
            return None
        price = after.last
        previous = self.trades[-1] if self.trades else None
        reference = previous.price if previous else before.last if before else None
        up = price > reference if reference is not None and price != reference else previous.up if previous else True
        touch = before if before is not None and (before.bid is not None or before.ask is not None) else after
        if touch.ask is not None and price >= touch.ask:
            at_offer = True
        elif touch.bid is not None and price <= touch.bid:
            at_offer = False
        else:
            at_offer = up
        self.last_id += 1
        trade = Trade(id=self.last_id, timestamp=after.timestamp, price=price, size=after.last_size, bid=after.bid,
                      ask=after.ask, bid_size=after.bid_size, ask_size=after.ask_size, up=up, at_offer=at_offer)
        self.trades.append(trade)
        return trade

    def since(self, trade_id: int) -> list[Trade]:
        """The trades after `trade_id` that the tape still holds, oldest first."""
        count = min(self.last_id - trade_id, len(self.trades))
        if count <= 0:
            return []
        return list(islice(reversed(self.trades), count))[::-1]


class ChartSpec(msgspec.Struct, frozen=True, kw_only=True):
    kind: str  # one of KINDS
    size: int  # elementSize, >= 1

    @property
    def ticks(self) -> bool:
        """A tick stream (Tick 1) rather than bars."""
        return self.kind == "Tick" and self.size == 1

    def key(self, trade: Trade, trade_date: date) -> int:
        """The bar a trade belongs to; keys grow with time (and trade id)."""
        if self.kind == "MinuteBar":
            return epoch_millis(trade.timestamp) // 60_000 // self.size
        if self.kind == "DailyBar":
            return (trade_date.toordinal() - 1) // self.size  # from 0001-01-01, a Monday
        return (trade.id - 1) // self.size

    def start(self, key: int, first: Trade) -> datetime:
        """The timestamp of the bar `key` whose first trade is `first`."""
        if self.kind == "MinuteBar":
            return EPOCH + timedelta(minutes=key * self.size)
        if self.kind == "DailyBar":
            return datetime.combine(date.fromordinal(key * self.size + 1), datetime.min.time(), UTC)
        return first.timestamp


class Bar(msgspec.Struct, kw_only=True, gc=False):
    """One chart bar in ticks; `trade_date` is that of its first trade."""

    key: int
    timestamp: datetime
    trade_date: date
    open: int
    high: int
    low: int
    close: int
    opened: datetime  # its first trade's time: what time ranges compare (a daily bar is stamped after its session's
    # evening trades: 00:00 UTC of its trade date)
    up_volume: int = 0
    down_volume: int = 0
    up_ticks: int = 0
    down_ticks: int = 0
    bid_volume: int = 0
    offer_volume: int = 0

    @classmethod
    def first(cls, spec: ChartSpec, key: int, trade: Trade, trade_date: date) -> "Bar":
        bar = cls(key=key, timestamp=spec.start(key, trade), trade_date=trade_date, open=trade.price,
                  high=trade.price, low=trade.price, close=trade.price, opened=trade.timestamp)
        bar.count(trade)
        return bar

    def add(self, trade: Trade) -> None:
        self.high = max(self.high, trade.price)
        self.low = min(self.low, trade.price)
        self.close = trade.price
        self.count(trade)

    def count(self, trade: Trade) -> None:
        if trade.up:
            self.up_volume += trade.size
            self.up_ticks += 1
        else:
            self.down_volume += trade.size
            self.down_ticks += 1
        if trade.at_offer:
            self.offer_volume += trade.size
        else:
            self.bid_volume += trade.size


def bars(trades: Iterable[Trade], spec: ChartSpec, trade_dates: TradeDates) -> list[Bar]:
    """The bars of `trades` (in trade id order), oldest first."""
    found: dict[int, Bar] = {}
    for trade in trades:
        trade_date = trade_dates(trade.timestamp)
        key = spec.key(trade, trade_date)
        bar = found.get(key)
        if bar is None:
            found[key] = Bar.first(spec, key, trade, trade_date)
        else:
            bar.add(trade)
    return [found[key] for key in sorted(found)]


class BarStream:
    """Bars kept current as trades arrive: `update` answers the bars the new trades changed, each in full (every
    trade the tape holds in it so far)."""

    def __init__(self, tape: Tape, spec: ChartSpec, trade_dates: TradeDates, *, from_start: bool = False) -> None:
        """A stream of the trades after those the tape holds now, or (`from_start`) of all of them."""
        self.tape = tape
        self.spec = spec
        self.trade_dates = trade_dates
        self.current: Bar | None = None
        self.newest = None if from_start else max(
            (spec.key(t, trade_dates(t.timestamp)) for t in tape.trades), default=None)
        self.last_id = 0 if from_start else tape.last_id  # the last trade seen

    def update(self, trades: Sequence[Trade]) -> list[Bar]:
        changed: dict[int, Bar] = {}
        if trades and trades[0].id != self.last_id + 1:
            self.current = None  # the tape dropped trades this stream never saw: rebuild from what it holds
        if trades:
            self.last_id = trades[-1].id
        for trade in trades:
            trade_date = self.trade_dates(trade.timestamp)
            key = self.spec.key(trade, trade_date)
            current = self.current
            if current is not None and current.key == key:
                current.add(trade)
            elif self.newest is None or key > self.newest:
                self.current = Bar.first(self.spec, key, trade, trade_date)
            else:  # a bar that already has trades (the clock went back, or the first update): rebuild it
                held = [t for t in self.tape.trades if t.id <= trade.id
                        and self.spec.key(t, self.trade_dates(t.timestamp)) == key]
                self.current = bars(held, self.spec, self.trade_dates)[0]
            assert self.current is not None
            self.newest = key if self.newest is None else max(self.newest, key)
            changed[key] = self.current
        return [changed[key] for key in sorted(changed)]


def by_trade_date(trades: Iterable[Trade], trade_dates: TradeDates) -> list[tuple[date, list[Trade]]]:
    """Consecutive trades grouped by trade date (one tick packet each)."""
    groups: list[tuple[date, list[Trade]]] = []
    for trade in trades:
        trade_date = trade_dates(trade.timestamp)
        if groups and groups[-1][0] == trade_date:
            groups[-1][1].append(trade)
        else:
            groups.append((trade_date, [trade]))
    return groups


def window(items: Sequence[T], stamp: Callable[[T], datetime], *, closest: datetime | None = None,
           as_far: datetime | None = None, as_much: int | None = None) -> list[T]:
    """The items (oldest first) stamped between `as_far` and `closest` (both inclusive, each optional), the last
    `as_much` of them when given."""
    chosen = [item for item in items
              if (closest is None or stamp(item) <= closest) and (as_far is None or stamp(item) >= as_far)]
    return chosen[-as_much:] if as_much is not None else chosen
