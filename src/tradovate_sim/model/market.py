"""Market-data wire shapes: the `md/*` requests of the WebSocket and the `md` and `chart` events they start.

Prices here are prices (ticks x tick size), as Tradovate sends them; the core's `Quote` keeps integer ticks.
"""

from datetime import datetime

import msgspec

from tradovate_sim.model.entities import Wire

# --- requests -------------------------------------------------------------------------------------------------------


class MdRequest(Wire, frozen=True):
    """`md/subscribeQuote`, `md/unsubscribeQuote`, `md/subscribeDOM`, `md/unsubscribeDOM`."""

    symbol: str | int  # a contract name, or its id


class ChartDescription(Wire, frozen=True):
    underlying_type: str  # MinuteBar, DailyBar, Tick
    element_size: int
    element_size_unit: str  # UnderlyingUnits
    with_histogram: bool = False  # accepted; no histogram packets are sent


class TimeRange(Wire, frozen=True):
    closest_timestamp: datetime | None = None
    closest_tick_id: int | None = None
    as_far_as_timestamp: datetime | None = None
    as_much_as_elements: int | None = None


class GetChart(Wire, frozen=True):
    """`md/getChart`."""

    symbol: str | int
    chart_description: ChartDescription
    time_range: TimeRange = msgspec.field(default_factory=TimeRange)


class CancelChart(Wire, frozen=True):
    """`md/cancelChart`: by the `subscriptionId` the getChart answer gave, or by its `historicalId`."""

    subscription_id: int


class ChartSubscription(Wire, frozen=True):
    """The answer of `md/getChart`: the ids its packets carry."""

    historical_id: int
    realtime_id: int


# --- events ---------------------------------------------------------------------------------------------------------


class PriceSize(Wire, frozen=True):
    price: float
    size: int


class QuoteEntries(Wire, frozen=True):
    bid: PriceSize | None = msgspec.field(default=None, name="Bid")
    offer: PriceSize | None = msgspec.field(default=None, name="Offer")
    trade: PriceSize | None = msgspec.field(default=None, name="Trade")


class QuotePacket(Wire, frozen=True):
    """One contract's quote in an `md` event."""

    timestamp: datetime
    contract_id: int
    entries: QuoteEntries


class DomPacket(Wire, frozen=True):
    """One contract's depth of market in an `md` event: best price first on each side."""

    contract_id: int
    timestamp: datetime
    bids: list[PriceSize]
    offers: list[PriceSize]


class MarketData(Wire, frozen=True):
    """The `d` of an `md` event."""

    quotes: list[QuotePacket] | None = None
    doms: list[DomPacket] | None = None


class ChartBar(Wire, frozen=True):
    timestamp: datetime
    open: float
    high: float
    low: float
    close: float
    up_volume: int
    down_volume: int
    up_ticks: int
    down_ticks: int
    bid_volume: int
    offer_volume: int


class ChartTick(Wire, frozen=True):
    """One trade of a tick chart, relative to its packet's base price (`bp`, ticks) and time (`bt`, ms)."""

    id: int
    t: int  # ms after bt
    p: int  # ticks from bp
    s: int  # size
    b: int | None = None  # bid, ticks from bp
    bs: int | None = None
    a: int | None = None  # ask, ticks from bp
    as_: int | None = msgspec.field(default=None, name="as")


class ChartPacket(Wire, frozen=True):
    """One packet of a `chart` event: bars of one trade date, ticks of one trade date, or the end of history."""

    id: int  # the subscription's historicalId or realtimeId
    td: int | None = None  # trade date as YYYYMMDD
    bars: list[ChartBar] | None = None
    s: str | None = None  # tick packets: "db" (history) or "rt" (realtime)
    bp: int | None = None
    bt: int | None = None
    ts: float | None = None  # tick size
    tks: list[ChartTick] | None = None
    eoh: bool | None = None  # end of history


class ChartData(Wire, frozen=True):
    """The `d` of a `chart` event."""

    charts: list[ChartPacket]
