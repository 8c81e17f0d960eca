"""`md/getChart`: what a chart request asks for, its history and its realtime updates as Tradovate's `chart`
packets, built from the market's tape (venue/tape.py)."""

from datetime import UTC, date, datetime

from tradovate_sim.model.market import ChartBar, ChartDescription, ChartPacket, ChartTick, TimeRange
from tradovate_sim.service.errors import bad_request
from tradovate_sim.service.platform import Platform
from tradovate_sim.venue.tape import KINDS, Bar, BarStream, ChartSpec, Trade, bars, by_trade_date, window

MAX_ELEMENT_SIZE = 1_000_000


def chart_spec(description: ChartDescription) -> ChartSpec:
    """The chart a description asks for, or a 400 naming the field."""
    if description.underlying_type not in KINDS:
        raise bad_request(f"chartDescription.underlyingType: {description.underlying_type[:40]!r} is not supported "
                          f"(one of {', '.join(KINDS)})")
    if description.element_size_unit != "UnderlyingUnits":
        raise bad_request(f"chartDescription.elementSizeUnit: {description.element_size_unit[:40]!r} is not "
                          "supported (only UnderlyingUnits)")
    if not 1 <= description.element_size <= MAX_ELEMENT_SIZE:
        raise bad_request(f"chartDescription.elementSize: must be between 1 and {MAX_ELEMENT_SIZE}")
    return ChartSpec(kind=description.underlying_type, size=description.element_size)


def check_range(time_range: TimeRange) -> None:
    if time_range.as_much_as_elements is not None and time_range.as_much_as_elements < 1:
        raise bad_request("timeRange.asMuchAsElements: must be at least 1")
    if time_range.closest_tick_id is not None and time_range.closest_tick_id < 0:
        raise bad_request("timeRange.closestTickId: must not be negative")


def utc(moment: datetime | None) -> datetime | None:
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment


def yyyymmdd(day: date) -> int:
    return day.year * 10_000 + day.month * 100 + day.day


class ChartFeed:
    """One `md/getChart` subscription: its history once, then the elements each new trade changes."""

    def __init__(self, platform: Platform, contract_id: int, tick_size: float, spec: ChartSpec, *,
                 historical_id: int, realtime_id: int) -> None:
        self.contract_id = contract_id
        self.tick_size = tick_size
        self.spec = spec
        self.historical_id = historical_id
        self.realtime_id = realtime_id
        self.market = platform.market
        self.tape = platform.market.tape(contract_id)
        self.trade_dates = platform.trade_date
        self.seen = self.tape.last_id  # realtime starts after the history's last trade
        self.stream = None if spec.ticks else BarStream(self.tape, spec, self.trade_dates)

    def history(self, time_range: TimeRange) -> list[ChartPacket]:
        """The packets of the history, ending with `{"id": historicalId, "eoh": true}`."""
        closest, as_far = utc(time_range.closest_timestamp), utc(time_range.as_far_as_timestamp)
        packets: list[ChartPacket]
        if self.spec.ticks:
            trades = list(self.tape.trades)
            if time_range.closest_tick_id is not None:
                trades = [t for t in trades if t.id <= time_range.closest_tick_id]
            chosen = window(trades, lambda t: t.timestamp, closest=closest, as_far=as_far,
                            as_much=time_range.as_much_as_elements)
            packets = self.tick_packets(self.historical_id, "db", chosen)
        else:
            built = bars(self.tape.trades, self.spec, self.trade_dates)
            if closest is not None:  # a bar counts from its first trade (a daily bar is stamped after its evening)
                built = [b for b in built if b.opened <= closest]
            packets = self.bar_packets(self.historical_id, window(
                built, lambda b: b.timestamp, as_far=as_far, as_much=time_range.as_much_as_elements))
        return [*packets, ChartPacket(id=self.historical_id, eoh=True)]

    def updates(self) -> list[ChartPacket]:
        """Packets for the trades since the last call (none when there were none)."""
        tape = self.market.tape(self.contract_id)
        if tape is not self.tape:  # the contract's quotes were seeded again (`/sim/reset`): a new, empty tape
            self.tape, self.seen = tape, 0
            self.stream = None if self.spec.ticks else BarStream(tape, self.spec, self.trade_dates, from_start=True)
        trades = self.tape.since(self.seen)
        if not trades:
            return []
        self.seen = trades[-1].id
        if self.stream is None:
            return self.tick_packets(self.realtime_id, "rt", trades)
        return self.bar_packets(self.realtime_id, self.stream.update(trades))

    # --- wire shapes ------------------------------------------------------------------------------------------------

    def price(self, ticks: int) -> float:
        return round(ticks * self.tick_size, 10)

    def bar_packets(self, packet_id: int, chosen: list[Bar]) -> list[ChartPacket]:
        packets: list[ChartPacket] = []
        current: list[ChartBar] | None = None
        last_date: date | None = None
        for bar in chosen:
            if current is None or bar.trade_date != last_date:
                current, last_date = [], bar.trade_date
                packets.append(ChartPacket(id=packet_id, td=yyyymmdd(bar.trade_date), bars=current))
            current.append(ChartBar(
                timestamp=bar.timestamp, open=self.price(bar.open), high=self.price(bar.high),
                low=self.price(bar.low), close=self.price(bar.close), up_volume=bar.up_volume,
                down_volume=bar.down_volume, up_ticks=bar.up_ticks, down_ticks=bar.down_ticks,
                bid_volume=bar.bid_volume, offer_volume=bar.offer_volume))
        return packets

    def tick_packets(self, packet_id: int, source: str, trades: list[Trade]) -> list[ChartPacket]:
        packets: list[ChartPacket] = []
        for trade_date, group in by_trade_date(trades, self.trade_dates):
            base_price, base_time = group[0].price, group[0].millis
            ticks = [ChartTick(id=trade.id, t=trade.millis - base_time, p=trade.price - base_price, s=trade.size,
                               b=None if trade.bid is None else trade.bid - base_price,
                               bs=None if trade.bid is None else trade.bid_size,
                               a=None if trade.ask is None else trade.ask - base_price,
                               as_=None if trade.ask is None else trade.ask_size)
                     for trade in group]
            packets.append(ChartPacket(id=packet_id, s=source, td=yyyymmdd(trade_date), bp=base_price, bt=base_time,
                                       ts=self.tick_size, tks=ticks))
        return packets
