"""Simulator controls and the market loop: set quotes, set the clock, reset; fill resting orders the market
crosses."""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from tradovate_sim.core import orders
from tradovate_sim.core.ticks import nearest_ticks, to_ticks
from tradovate_sim.core.view import Caller, Instrument, Quote
from tradovate_sim.model.entities import Contract
from tradovate_sim.model.ids import ContractId, OrganizationId, UserId
from tradovate_sim.model.queries import QuoteQuery
from tradovate_sim.model.simulator import ClockRequest, QuoteRequest, QuoteState
from tradovate_sim.service.errors import bad_request, not_found
from tradovate_sim.service.periodic import Ticker
from tradovate_sim.service.platform import Platform
from tradovate_sim.venue.market import DEPTH_LEVELS

log = logging.getLogger("tradovate_sim.market")

SYSTEM = Caller(user_id=UserId(0), organization_id=OrganizationId(0))
MAX_DEPTH_LEVELS = 1000
EARLIEST = datetime(2001, 1, 1, tzinfo=UTC)  # the exchange calendar covers 2000-2040
LATEST = datetime(2039, 12, 31, tzinfo=UTC)


def move_clock(platform: Platform, req: ClockRequest) -> None:
    """Apply a /sim/clock request; times outside the calendar's range are refused and change nothing."""
    clock = platform.clock
    if req.mode is not None and req.mode != "real":
        raise bad_request("mode: only 'real' is accepted")
    if req.mode == "real":
        clock.resume()
        return
    if req.now is not None:
        target = req.now if req.now.tzinfo else req.now.replace(tzinfo=UTC)
    elif req.advance_seconds is not None:
        if not -1e9 < req.advance_seconds < 1e9:
            raise bad_request("advanceSeconds: must be within +-1e9")
        target = clock.now() + timedelta(seconds=req.advance_seconds)
    else:
        raise bad_request("body: one of now, advanceSeconds or mode=real is required")
    if not EARLIEST <= target <= LATEST:
        raise bad_request(f"now: must be between {EARLIEST.date()} and {LATEST.date()}")
    clock.set(target)


async def match_contract(platform: Platform, contract_id: ContractId) -> None:
    """Let every account with working orders in the contract trade against its current quote."""
    for account_id in list(platform.state.working_by_contract.get(contract_id, {})):
        async with platform.account(account_id):
            view = platform.order_view(SYSTEM, account_id, contract_id)
            if view is None or not view.book.working:
                continue
            decision = orders.match(view, platform.now(), platform.ids)
            await platform.commit(decision.changes)


def _ticks(value: float | None, tick_size: float, field: str) -> int | None:
    if value is None:
        return None
    if not -1e9 < value < 1e9:  # before the conversion, which overflows on the largest floats
        raise bad_request(f"{field}: must be between -1e9 and 1e9")
    ticks = to_ticks(value, tick_size)
    if ticks is None:
        raise bad_request(f"{field}: {value} is not on the tick grid of {tick_size}")
    return ticks


def _instrument(platform: Platform, contract_id: ContractId | None, symbol: str | None) -> Instrument:
    """The contract a /sim/quote request names by `contractId` or `symbol`: a 400 when neither, a 404 naming it when
    it is not listed."""
    if contract_id is None and not symbol:
        raise bad_request("symbol: contractId or symbol is required")
    instrument = platform.instrument(contract_id or (platform.state.find(Contract, symbol) if symbol else None) or 0)
    if instrument is None:
        raise not_found(f"contract {contract_id or symbol!r} not found")
    return instrument


def quote_state(platform: Platform, quote: Quote) -> QuoteState:
    """The answer of `/sim/quote`: the quote in prices."""
    instrument = platform.instrument(quote.contract_id)
    assert instrument is not None
    tick = instrument.product.tick_size

    def price(ticks: int | None) -> float | None:
        return None if ticks is None else round(ticks * tick, 10)

    return QuoteState(contract_id=ContractId(quote.contract_id), symbol=instrument.contract.name,
                      bid=price(quote.bid), ask=price(quote.ask), bid_size=quote.bid_size, ask_size=quote.ask_size,
                      last=price(quote.last), depth_size=quote.depth_size, depth_levels=quote.depth_levels,
                      timestamp=quote.timestamp)


def current_quote(platform: Platform, query: QuoteQuery) -> Quote:
    """`GET /sim/quote?symbol=ESZ6` (or `?contractId=`): the contract's quote now."""
    instrument = _instrument(platform, query.contract_id, query.symbol)
    quote = platform.market.quotes.get(instrument.contract.id)
    if quote is None:
        raise not_found(f"contract {instrument.contract.name!r} has no quote")
    return quote


async def set_quote(platform: Platform, req: QuoteRequest, *, match: bool = True) -> Quote:
    """Set (or release) a quote and let resting orders trade against it; `match=False` for a process that applies a
    quote another process set and matched (several processes: a quote's size is traded against once)."""
    instrument = _instrument(platform, req.contract_id, req.symbol)
    contract_id = instrument.contract.id
    if req.release:
        spec = platform.spec_of_product.get(instrument.product.id)
        reference = nearest_ticks(spec.reference_price, spec.tick_size) if spec else 0
        if platform.market.release(contract_id, platform.now(), reference):
            platform.quotes_changed([contract_id])
            if match:
                await match_contract(platform, contract_id)
        return platform.market.quotes[contract_id]
    tick = instrument.product.tick_size
    bid, ask = _ticks(req.bid, tick, "bid"), _ticks(req.ask, tick, "ask")
    if bid is not None and ask is not None and bid >= ask:
        raise bad_request("bid: must be below ask")
    for field, size in (("bidSize", req.bid_size), ("askSize", req.ask_size), ("depthSize", req.depth_size)):
        if size is not None and not 0 <= size <= 1_000_000:
            raise bad_request(f"{field}: must be between 0 and 1000000")
    if req.last_size is not None and not 1 <= req.last_size <= 1_000_000:
        raise bad_request("lastSize: a trade is between 1 and 1000000 lots")
    if req.depth_levels is not None and not 0 <= req.depth_levels <= MAX_DEPTH_LEVELS:
        raise bad_request(f"depthLevels: must be between 0 and {MAX_DEPTH_LEVELS}")
    previous = platform.market.quotes.get(contract_id)
    spec = platform.spec_of_product.get(instrument.product.id)
    default = spec.display_size if spec else 10
    quote = Quote(
        contract_id=contract_id, timestamp=platform.now(), bid=bid, ask=ask,
        bid_size=req.bid_size if req.bid_size is not None else default,
        ask_size=req.ask_size if req.ask_size is not None else default,
        last=_ticks(req.last, tick, "last"), last_size=req.last_size or 1,
        depth_size=req.depth_size if req.depth_size is not None else (previous.depth_size if previous else default),
        depth_levels=req.depth_levels if req.depth_levels is not None else DEPTH_LEVELS,
    )
    platform.market.set(quote)
    platform.quotes_changed([contract_id])
    if match:
        await match_contract(platform, contract_id)
    return quote


class MarketLoop:
    """Moves the synthetic market every `interval` seconds and fills what it crosses. Owned by the lifespan."""

    def __init__(self, platform: Platform, interval: float) -> None:
        self.platform = platform
        self.interval = interval
        self.ticker = Ticker("market-loop", interval, self.step, log=log, what="market loop",
                             failed="market tick failed (%d in a row); the market goes on")
        self.settled: list[Callable[[], Awaitable[None]]] = []  # awaited after each tick (the risk engine's drain)
        self.last_tick: float | None = None  # time.monotonic() of the start, then of each tick (for /health)
        self.ticks = 0  # ticks done (for tests)

    @property
    def task(self) -> asyncio.Task[None] | None:
        return self.ticker.task

    def start(self) -> None:
        """Tick until stopped (nothing if ticking already); again after a `stop()`."""
        if not self.ticker.running:
            self.last_tick = time.monotonic()
        self.ticker.start()

    async def step(self) -> None:
        """One tick, counted (a tick that fails is logged by the ticker and the market goes on with the next one)."""
        try:
            await self.tick()
        finally:
            self.ticks += 1
            self.last_tick = time.monotonic()

    async def tick(self) -> None:
        """Move the synthetic quotes one step and fill what they cross."""
        moved = [ContractId(c) for c in self.platform.market.walk(self.platform.now())]
        self.platform.quotes_changed(moved)
        for contract_id in moved:
            await match_contract(self.platform, contract_id)
        for settle in self.settled:
            await settle()

    async def stop(self) -> None:
        """Stop after the tick under way, if any (its fills land or fail as store errors)."""
        await self.ticker.stop()
